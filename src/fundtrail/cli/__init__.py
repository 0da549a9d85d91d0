"""The `fundtrail` command line: thin commands over the domain functions, one error mapping."""
