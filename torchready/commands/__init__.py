"""One module per `torchready` sub-command: HELP, configure(parser), run(args) -> int."""
