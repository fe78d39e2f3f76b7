import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hashfed_wire import note
from hashfed_wire.note import (
    COSIGNATURE_ED25519,
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    Checkpoint,
    CheckpointError,
    NoteError,
    Verifier,
    add_signature,
    checkpoint_body,
    cosign,
    cosignature_line,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_signature_line,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key,
    verify_cosignature,
)

# c2sp.org/signed-note, "Verifier keys" example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3m"
    "FXmRKuwHjG1Yu72IneyaQM=\n"
)
# golang.org/x/mod/sumdb/note's documented example: a private key (0x01 || seed), its
# verifier key, a text and the exact signed note (Ed25519 is deterministic).
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSN"
    "XgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# c2sp.org/tlog-checkpoint and tlog-cosignature examples (no keys are published for them).
SPEC_CHECKPOINT_BODY = (
    b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
SPEC_COSIGNED = (
    SPEC_CHECKPOINT_BODY.decode() + "\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Z"
    "hcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
    "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)

ORIGIN = "hub.example.org/shared-list"


@pytest.fixture
def log_key():
    return Ed25519PrivateKey.generate()


def verifier_for(name, private_key, signature_type=0x01):
    return Verifier(name, private_key.public_key().public_bytes_raw(), signature_type)


def test_the_signed_note_spec_example_verifies():
    verifier = parse_verifier_key(SPEC_VKEY)
    assert verifier.name == "example.com/foo"
    assert verifier.key_id.hex() == "530d903a"
    assert verifier.vkey == SPEC_VKEY
    assert open_note(SPEC_NOTE, [verifier]) == (
        b"This is an example message.\n",
        ["example.com/foo"],
    )


def test_the_go_reference_note_is_reproduced_byte_for_byte():
    private_key = Ed25519PrivateKey.from_private_bytes(GO_SEED)
    public_key = private_key.public_key().public_bytes_raw()
    assert key_id("PeterNeumann", public_key).hex() == "c74f20a3"
    assert verifier_key("PeterNeumann", public_key) == GO_VKEY
    assert sign_note(GO_TEXT, name="PeterNeumann", private_key=private_key) == GO_NOTE
    body, names = open_note(GO_NOTE, [parse_verifier_key(GO_VKEY)])
    assert body == GO_TEXT.encode()
    assert names == ["PeterNeumann"]


def test_the_spec_checkpoint_and_cosignature_parse():
    checkpoint = parse_checkpoint(SPEC_CHECKPOINT_BODY)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.issued_at is None
    assert checkpoint_body(checkpoint) == SPEC_CHECKPOINT_BODY
    # The witness line's signature is key id || timestamp || Ed25519 signature, and its
    # timestamp is the one the spec's signed-message example shows.
    line = SPEC_COSIGNED.splitlines()[-1]
    raw = base64.b64decode(line.rsplit(" ", 1)[1])
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    # Unknown keys are ignored, so a verifier that knows neither finds no known signature.
    with pytest.raises(NoteError, match="no known key"):
        open_note(SPEC_COSIGNED, [parse_verifier_key(SPEC_VKEY)])


def test_a_checkpoint_round_trips_with_its_issue_time(log_key):
    checkpoint = Checkpoint(ORIGIN, 1234, bytes(range(32)), issued_at=1_764_300_000)
    body = checkpoint_body(checkpoint)
    assert (
        body
        == (
            f"{ORIGIN}\n1234\n{base64.b64encode(bytes(range(32))).decode()}\ntime 1764300000\n"
        ).encode()
    )
    assert parse_checkpoint(body) == checkpoint
    note = sign_checkpoint(checkpoint, name=ORIGIN, private_key=log_key)
    opened = open_checkpoint(note, [verifier_for(ORIGIN, log_key)])
    assert opened.checkpoint == checkpoint
    assert opened.key_names == [ORIGIN]
    with_extension = Checkpoint(ORIGIN, 0, bytes(32), issued_at=5, extensions=("other thing",))
    assert parse_checkpoint(checkpoint_body(with_extension)) == with_extension


@pytest.mark.parametrize(
    "body",
    [
        b"origin\n12\n",
        b"origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        b"\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        b"origin\n012\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        b"origin\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        b"origin\n+1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        b"origin\n1 \nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        b"origin\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        b"origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
        b"origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",
        b"origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
        b"origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
        b"origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 01\n",
        b"origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 1\ntime 2\n",
        b"origin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime \n",
        b"origin\r\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        b"ori\xffgin\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    ],
)
def test_malformed_checkpoints_are_refused(body):
    with pytest.raises(CheckpointError):
        parse_checkpoint(body)


def test_checkpoints_that_cannot_be_written_are_refused():
    for checkpoint in [
        Checkpoint("", 1, bytes(32)),
        Checkpoint("two\nlines", 1, bytes(32)),
        Checkpoint(ORIGIN, -1, bytes(32)),
        Checkpoint(ORIGIN, 1, bytes(31)),
        Checkpoint(ORIGIN, 1, bytes(32), issued_at=-1),
        Checkpoint(ORIGIN, 1, bytes(32), extensions=("",)),
        Checkpoint(ORIGIN, 1, bytes(32), extensions=("time 5",)),
    ]:
        with pytest.raises(CheckpointError):
            checkpoint_body(checkpoint)


def test_a_rotation_signs_with_both_keys_and_either_verifier_opens_it(log_key):
    next_key = Ed25519PrivateKey.generate()
    body = checkpoint_body(Checkpoint(ORIGIN, 7, bytes(32), issued_at=1))
    note = sign_note(body, name=ORIGIN, private_key=log_key)
    note = add_signature(note, name=ORIGIN, private_key=next_key)
    old, new = verifier_for(ORIGIN, log_key), verifier_for(ORIGIN, next_key)
    assert old.key_id != new.key_id
    assert open_note(note, [old]).key_names == [ORIGIN]
    assert open_note(note, [new]).key_names == [ORIGIN]
    assert open_note(note, [old, new]) == (body, [ORIGIN, ORIGIN])
    with pytest.raises(NoteError, match="already signed"):
        add_signature(note, name=ORIGIN, private_key=next_key)
    with pytest.raises(NoteError, match="no known key"):
        open_note(note, [verifier_for(ORIGIN, Ed25519PrivateKey.generate())])
    with pytest.raises(NoteError, match="no known key"):
        open_note(note, [])


def test_cosignatures_sign_the_spec_message_and_verify(log_key):
    witness_key = Ed25519PrivateKey.generate()
    witness = verifier_for("witness.example.org/w1", witness_key, COSIGNATURE_ED25519)
    assert witness.vkey.split("+")[2].startswith(base64.b64encode(b"\x04").decode()[:1])
    body = checkpoint_body(Checkpoint(ORIGIN, 99, bytes(32), issued_at=1))
    note = sign_note(body, name=ORIGIN, private_key=log_key)
    cosigned = cosign(note, name=witness.name, private_key=witness_key, timestamp=1679315147)
    assert verify_cosignature(cosigned, witness) == 1679315147
    assert open_note(cosigned, [verifier_for(ORIGIN, log_key), witness]).key_names == [
        ORIGIN,
        witness.name,
    ]
    # The bytes signed are exactly those the spec describes.
    raw = base64.b64decode(cosigned.splitlines()[-1].rsplit(" ", 1)[1])
    assert raw[:4] == witness.key_id
    assert raw[:4] == key_id(witness.name, witness.public_key, 0x04)
    assert raw[4:12] == (1679315147).to_bytes(8, "big")
    Ed25519PublicKey.from_public_bytes(witness.public_key).verify(
        raw[12:], b"cosignature/v1\ntime 1679315147\n" + body
    )
    line = cosignature_line(body, name=witness.name, private_key=witness_key, timestamp=1679315147)
    assert cosigned == note + line
    # The same key as a plain note signer has another key id, so it cannot pass for it.
    plain = verifier_for(witness.name, witness_key)
    with pytest.raises(NoteError, match="no known key"):
        open_note(cosigned.replace(note.split("\n\n")[1], ""), [plain])
    with pytest.raises(NoteError, match="no cosignature"):
        verify_cosignature(note, witness)
    with pytest.raises(NoteError, match="already signed"):
        cosign(cosigned, name=witness.name, private_key=witness_key, timestamp=5)
    with pytest.raises(NoteError, match="type 0x04"):
        verify_cosignature(cosigned, plain)


def test_a_cosignature_over_another_checkpoint_or_time_is_refused(log_key):
    witness_key = Ed25519PrivateKey.generate()
    witness = verifier_for("w.example", witness_key, COSIGNATURE_ED25519)
    body = checkpoint_body(Checkpoint(ORIGIN, 99, bytes(32)))
    other = checkpoint_body(Checkpoint(ORIGIN, 100, bytes(32)))
    line = cosignature_line(other, name="w.example", private_key=witness_key, timestamp=10)
    note = sign_note(body, name=ORIGIN, private_key=log_key) + line
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(note, witness)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(note, [verifier_for(ORIGIN, log_key), witness])
    good = cosignature_line(body, name="w.example", private_key=witness_key, timestamp=10)
    raw = bytearray(base64.b64decode(good.rsplit(" ", 1)[1]))
    raw[11] ^= 1
    retimed = sign_note(body, name=ORIGIN, private_key=log_key)
    retimed += f"\u2014 w.example {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(retimed, witness)


def tampered_variants(note: str) -> list[str]:
    text, block = note.split("\n\n", 1)
    signature_line = block.splitlines()[0]
    name, encoded = signature_line[2:].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    flipped_signature = f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}"
    return [
        note.replace("\n7\n", "\n8\n"),
        note.replace(text, text + "x"),
        f"{text}\n\n{flipped_signature}\n",
    ]


def test_tampered_notes_are_refused(log_key):
    verifier = verifier_for(ORIGIN, log_key)
    note = sign_note(
        checkpoint_body(Checkpoint(ORIGIN, 7, bytes(32), issued_at=1)),
        name=ORIGIN,
        private_key=log_key,
    )
    for tampered in tampered_variants(note):
        with pytest.raises(NoteError):
            open_note(tampered, [verifier])
    text, block = note.split("\n\n", 1)
    malformed = [
        text,
        note[:-1],
        note.replace("\n\n", "\n"),
        note + "not a signature line\n",
        note + "\n",
        note + block,
        note + f"\u2014 {ORIGIN}\n",
        note + f"\u2014 {ORIGIN} AAAA\n",
        note + "\u2014 bad+name AAAAAAA=\n",
        note + f"\u2014 {ORIGIN} not*base64\n",
        note + f"- {ORIGIN} AAAAAAA=\n",
        note.replace(ORIGIN, ORIGIN + "\t", 1),
        note.replace("\u2014 ", "\u2014  "),
        text + "\n" + "".join(f"\u2014 k{i} AAAAAAA=\n" for i in range(MAX_SIGNATURES)) + block,
        text + "x" * MAX_NOTE_SIZE + "\n\n" + block,
    ]
    for bad in malformed:
        with pytest.raises(NoteError):
            open_note(bad, [verifier])
    with pytest.raises(NoteError):
        open_note(note.encode()[:-3] + b"\xff\n", [verifier])
    # Signatures from unknown keys are ignored, up to the limit.
    padded = note + "".join(f"\u2014 k{i} AAAAAAA=\n" for i in range(MAX_SIGNATURES - 1))
    assert open_note(padded, [verifier]).key_names == [ORIGIN]


def test_two_known_keys_with_one_name_and_id_are_refused(log_key):
    note = sign_note("text\n", name=ORIGIN, private_key=log_key)
    real = verifier_for(ORIGIN, log_key)
    assert open_note(note, [real, real]).key_names == [ORIGIN]
    # A forged key whose id collides (ids are 4 bytes): here, one built by hand.
    impostor = Verifier(ORIGIN, bytes(32))
    object.__setattr__(impostor, "key_id", real.key_id)
    with pytest.raises(NoteError, match="two known keys"):
        open_note(note, [real, impostor])


def test_keys_and_texts_that_cannot_be_signed_are_refused(log_key):
    for name in ["", "with space", "with+plus", "tab\tname", "nbsp\u00a0name"]:
        with pytest.raises(NoteError):
            sign_note("text\n", name=name, private_key=log_key)
    for text in ["no final newline", "bell\x07\n"]:
        with pytest.raises(NoteError):
            sign_note(text, name=ORIGIN, private_key=log_key)
    for vkey in [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
        "Peter+Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]:
        with pytest.raises(NoteError):
            parse_verifier_key(vkey)


def test_a_verifier_key_whose_base64_holds_a_plus_sign_round_trips():
    # The key material of this key encodes with "+" in it; only the first two "+" separate.
    public = b"\xfb" * 32
    for signature_type in (note.ED25519, COSIGNATURE_ED25519):
        vkey = verifier_key("hub.example", public, signature_type)
        assert "+" in vkey.split("+", 2)[2]
        assert parse_verifier_key(vkey) == Verifier("hub.example", public, signature_type)


def test_a_verifier_key_whose_base64_holds_a_plus_parses():
    """The key material is base64, whose alphabet has "+": only the first two "+" split."""
    for seed in range(256):
        private = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
        verifier = Verifier("w.example", private.public_key().public_bytes_raw(), 0x04)
        if "+" in verifier.vkey.split("+", 2)[2]:
            break
    else:
        pytest.fail("no key with a + in its base64 among the seeds tried")
    assert parse_verifier_key(verifier.vkey) == verifier


def test_one_signature_line_parses_and_anything_else_is_refused(log_key):
    line = cosignature_line(
        "o\n1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        name="w.example",
        private_key=log_key,
        timestamp=5,
    )
    parsed = parse_signature_line(line)
    assert parsed.name == "w.example" and len(parsed.signature) == 8 + 64
    assert parse_signature_line(line[:-1]) == parsed
    for bad in (line + line, "hello", "\u2014 w.example", "\u2014 w.example AAAA", line + "\n"):
        with pytest.raises(NoteError):
            parse_signature_line(bad)


def test_a_verifier_key_whose_base64_holds_a_plus_is_read_back():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    for seed in range(256):
        raw = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32).public_key()
        verifier = Verifier("hub.example.org", raw.public_bytes_raw())
        if "+" in verifier.vkey.split("+", 2)[2]:
            break
    assert "+" in verifier.vkey.split("+", 2)[2]
    assert parse_verifier_key(verifier.vkey) == verifier
