from berth.cli.main import entry

entry()
