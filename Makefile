# berth: `make demo` and `make test` work on a fresh Debian 12 or 13 machine.
PY      := .venv/bin/python
BERTH   := .venv/bin/berth
IMAGES  := images
JOBS    ?= 2

.PHONY: install demo test unit e2e lint bench image clean install-systemd

install:
	@scripts/install.sh

$(IMAGES)/busybox.tar: scripts/mkbusybox.sh
	@mkdir -p $(IMAGES)
	@scripts/mkbusybox.sh $@

# The demo/test base image, built from the host's busybox-static (nothing is pulled).
image: install $(IMAGES)/busybox.tar
	@$(BERTH) image exists localhost/busybox || $(BERTH) import $(IMAGES)/busybox.tar localhost/busybox

demo: install $(IMAGES)/busybox.tar
	@scripts/demo.sh

test: install $(IMAGES)/busybox.tar
	$(PY) -m ruff check berth tests bench
	$(PY) -m pytest -n $(JOBS) -q tests

unit: install
	$(PY) -m pytest -q tests/unit

lint: install
	$(PY) -m ruff check berth tests bench

bench: install $(IMAGES)/busybox.tar
	$(PY) bench/run.py
	$(PY) bench/features.py

clean:
	rm -rf $(IMAGES) .pytest_cache

# systemd integration: the Quadlet generators and berth-restart.service (as root)
install-systemd: install
	install -D -m 755 contrib/systemd/berth-generator /usr/lib/systemd/system-generators/berth-system-generator
	install -d /usr/lib/systemd/user-generators
	ln -sf ../system-generators/berth-system-generator /usr/lib/systemd/user-generators/berth-user-generator
	install -D -m 644 contrib/systemd/berth-restart.service /etc/systemd/system/berth-restart.service
