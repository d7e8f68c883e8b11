"""One module per ``aem`` subcommand."""
