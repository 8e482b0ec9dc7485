"""The public headers reader on its own: lines of declarations after comments and strings, and
header texts shared by two header sets (scanned once per process) located in each set's own file."""

from bpf_build.abi.public import PublicHeaders

HEADER = '''/* a comment
 * over three lines, with "struct fake {" inside */
#define NAME "struct not_a_tag {"  // nor this: struct other;
struct bpf_ext;
// struct hidden { is a comment
struct bpf_opts {
\tint x; /* one
\t          more */ char c;
};
int bpf_open(struct bpf_opts *opts);
'''


def test_lines_counted_past_comments_and_strings(tmp_path):
    (tmp_path / "api.h").write_text(HEADER)
    headers = PublicHeaders.from_paths([tmp_path])
    api = str(tmp_path / "api.h")
    assert headers.locate("struct bpf_opts") == (api, 6)
    assert headers.locate("bpf_open@@LIBBPF_1.0.0") == (api, 10)
    assert headers.is_opaque("struct bpf_ext")
    assert not headers.is_opaque("struct bpf_opts")
    for tag in ("struct fake", "struct not_a_tag", "struct other", "struct hidden"):
        assert headers.locate(tag) is None and not headers.is_opaque(tag)


def test_shared_header_text_is_located_in_each_set(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "api.h").write_text(HEADER)
    (new / "api.h").write_text(HEADER)
    # Same length and ends as api.h, another tag in the middle: not taken for it.
    (new / "other.h").write_text(HEADER.replace("bpf_opts {", "bpf_optz {"))
    (old / "other.h").write_text("struct bpf_optz;\n")
    old_headers, new_headers = PublicHeaders.from_paths([old]), PublicHeaders.from_paths([new])
    assert old_headers.locate("struct bpf_opts") == (str(old / "api.h"), 6)
    assert new_headers.locate("struct bpf_opts") == (str(new / "api.h"), 6)
    assert new_headers.locate("struct bpf_optz") == (str(new / "other.h"), 6)
    assert old_headers.is_opaque("struct bpf_optz") and not new_headers.is_opaque("struct bpf_optz")
