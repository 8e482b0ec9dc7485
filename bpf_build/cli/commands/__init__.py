"""One module per `bpf-build` sub-command; see bpf_build.cli.main."""
