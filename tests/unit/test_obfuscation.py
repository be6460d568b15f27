import bcrypt
from hypothesis import given, settings
from hypothesis import strategies as st

from patron_info_poller.obfuscation import Obfuscator, obfuscate

# Known-answer vector from the OpenBSD bcrypt test suite ("U*U", cost 5).
VECTOR_SALT = b"$2a$05$CCCCCCCCCCCCCCCCCCCCC."
VECTOR_HASH = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
SALT = "$2b$04$abcdefghijklmnopqrstuu"


def test_known_answer_keeps_the_31_characters_after_the_salt():
    assert obfuscate("U*U", VECTOR_SALT) == VECTOR_HASH[29:]
    assert len(obfuscate("12345", SALT.encode())) == 31


def test_long_input_hashes_its_first_72_bytes_like_older_bcrypt():
    long_value = "481036000123_" + "350 West 42nd Street Apartment 12B_New York_New York_10036-1234"
    assert len(long_value.encode()) > 72
    expected = bcrypt.hashpw(long_value.encode()[:72], SALT.encode()).decode()[29:]
    assert obfuscate(long_value, SALT.encode()) == expected
    assert obfuscate(long_value + "_tail", SALT.encode()) == expected


def test_multibyte_input_is_truncated_by_bytes_not_characters():
    value = "ñ" * 50  # 100 bytes
    expected = bcrypt.hashpw(value.encode()[:72], SALT.encode()).decode()[29:]
    assert obfuscate(value, SALT.encode()) == expected


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(max_size=90), max_size=12))
def test_parallel_obfuscator_matches_the_standard_and_hashes_each_value_once(values):
    obfuscator = Obfuscator(SALT, workers=2)
    try:
        assert obfuscator.obfuscate_many(values) == [obfuscate(v, SALT.encode()) for v in values]
        assert obfuscator.hashes_computed == len(set(values))
        obfuscator.obfuscate_many(values)
        assert obfuscator.hashes_computed == len(set(values))
    finally:
        obfuscator.close()


def test_cache_smaller_than_a_batch_still_answers_every_value():
    obfuscator = Obfuscator(SALT, workers=2, cache_size=2)
    try:
        values = [str(i) for i in range(6)]
        assert obfuscator.obfuscate_many(values) == [obfuscate(v, SALT.encode()) for v in values]
        assert "abcdefghijklmnopqrstuu" not in repr(obfuscator)
    finally:
        obfuscator.close()
