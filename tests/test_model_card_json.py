"""One bounded JSON reader (model_card.read_json) behind labels.json, classes.json and model.json: the same size
bound, byte-order mark, nesting and messages, with each caller's own error type."""
import json

import pytest

from gaugan.data.folder import MAX_LABEL_TABLE_BYTES, read_label_table
from gaugan.errors import CheckpointError, InputError
from gaugan.model_card import MAX_CARD_BYTES, read_card_json

TABLE = [{"id": 0, "name": "sky", "rgb": [110, 165, 245]}]
READERS = {"label table": (read_label_table, MAX_LABEL_TABLE_BYTES, InputError),
           "model card": (read_card_json, MAX_CARD_BYTES, CheckpointError)}


@pytest.mark.parametrize("what", READERS)
def test_a_byte_order_mark_is_allowed(tmp_path, what):
    read = READERS[what][0]
    path = tmp_path / "file.json"
    path.write_text(json.dumps(TABLE), encoding="utf-8-sig")
    assert read(path)


@pytest.mark.parametrize("what", READERS)
@pytest.mark.parametrize("write, message", [
    (lambda path, limit: path.write_text("[" + " " * limit + "]"), "{path} is {size} bytes; a {what} is at most {limit}"),
    (lambda path, limit: path.write_text("[1, 2"), "{path}: not a JSON {what} (file.json is not valid JSON: "),
    (lambda path, limit: path.write_text("[1, 2,]"), "{path}: not a JSON {what} (file.json is not valid JSON: "),
    (lambda path, limit: path.write_text("[" * 100_000 + "]" * 100_000), "{path}: not a JSON {what} (file.json is not "
                                                                         "valid JSON: "),
    (lambda path, limit: path.write_text(json.dumps(TABLE), encoding="utf-16"), "{path}: not a JSON {what} (file.json "
                                                                                "is not UTF-8 text: "),
    (lambda path, limit: path.write_text("[" + "9" * 5000 + "]"), "{path}: not a JSON {what} (file.json is not "
                                                                   "valid JSON: "),  # past int's digit limit
    (lambda path, limit: None, "{path}: no such {what}"),
], ids=["too large", "truncated", "trailing comma", "nested too deep", "utf-16", "5000 digits", "missing"])
def test_each_caller_keeps_its_error_type_and_gets_the_same_one_line_messages(tmp_path, what, write, message):
    read, limit, error = READERS[what]
    path = tmp_path / "file.json"
    write(path, limit)
    with pytest.raises(InputError) as caught:
        read(path)
    size = path.stat().st_size if path.exists() else 0
    assert type(caught.value) is error
    assert str(caught.value).startswith(message.format(path=path, size=size, what=what, limit=limit))
    assert "\n" not in str(caught.value)
