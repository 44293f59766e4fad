import gc

from berth.launcher import GC_THRESHOLD

gc.set_threshold(*GC_THRESHOLD)  # as the launcher script does, before the imports

from berth.cli.main import entry  # noqa: E402

entry()
