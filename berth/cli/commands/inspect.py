"""berth inspect / container inspect / image inspect."""

from __future__ import annotations

import sys

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-f", "--format", default=None, help="Format the output to a Go template or json")
    if cmd == "inspect":
        p.add_argument("-t", "--type", default="all", choices=["all", "container", "image", "network", "pod", "volume"],
                       help="Specify inspect-object type")
    p.add_argument("-s", "--size", action="store_true", help="Display total file size")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.set_defaults(_kind={"inspect": "all", "container inspect": "container", "image inspect": "image"}[cmd])


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.cli.output import print_json, template_each
    from berth.engine.inspect import container_inspect, image_inspect
    from berth.errors import BerthError, InvalidArgument, NotFound

    kind = getattr(args, "type", None) or args._kind
    if kind == "all":
        kind = args._kind
    rt = engine(args)
    names = list(args.names)
    if args.latest:
        names = [rt.latest().id]
    if not names:
        raise InvalidArgument("no names or ids specified")
    docs = []
    errors = []
    for n in names:
        doc = None
        if kind in ("all", "container"):
            try:
                doc = container_inspect(rt, rt.lookup(n))
            except NotFound:
                doc = None
        if doc is None and kind in ("all", "image"):
            try:
                doc = image_inspect(rt.images.lookup(n))
            except NotFound:
                doc = None
        if doc is None and kind in ("all", "volume"):
            from berth.engine import volumes

            try:
                doc = volumes.inspect_doc(rt, volumes.get(rt, n))
            except NotFound:
                doc = None
        if doc is None:
            if kind == "volume":
                errors.append(f"no such volume {n}")
            elif kind == "image":
                errors.append(f"{n}: image not known")
            elif kind == "container":
                errors.append(f"no such container {n}")
            else:
                errors.append(f"inspecting object: no such object: \"{n}\"")
            continue
        docs.append(doc)
    if args.format and args.format != "json":
        template_each([_template_view(d) for d in docs], args.format)
    else:
        print_json(docs)
    if errors:
        for e in errors[:-1]:
            sys.stderr.write(f"Error: {e}\n")
        raise BerthError(errors[-1])
    return 0


def _template_view(doc: dict) -> dict:
    """An image's Config is Go's v1.ImageConfig for templates: every field exists, even unset
    ({{.Config.Cmd}} prints [] rather than failing), while the JSON keeps Podman's omitempty."""
    from berth.cli.format.gotemplate import GoMap

    cfg = doc.get("Config")
    if "RootFS" not in doc or not isinstance(cfg, dict):
        return doc
    full = {"User": "", "ExposedPorts": GoMap(), "Env": [], "Entrypoint": [], "Cmd": [], "Volumes": GoMap(),
            "WorkingDir": "", "Labels": GoMap(), "StopSignal": "", "ArgsEscaped": False}
    full.update({k: v for k, v in cfg.items() if v is not None})
    return {**doc, "Config": full}
