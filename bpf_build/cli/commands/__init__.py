"""One module per `bpf-build` sub-command, each defining configure(parser); bpf_build.cli.main lists them."""
