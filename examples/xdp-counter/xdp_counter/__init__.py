"""Count packets per IP protocol on an interface with XDP."""
