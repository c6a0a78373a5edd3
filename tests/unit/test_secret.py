import logging

from grokdash.secret import RedactingFormatter, Secret, redact

KEY = "sk-live-0123456789abcdefXYZ"


def test_a_secret_shows_a_mask_wherever_it_is_printed():
    secret = Secret(KEY)
    for shown in (str(secret), repr(secret), f"{secret}", f"{secret!r}", f"{secret}", str([secret])):
        assert KEY not in shown
    assert secret.reveal() == KEY
    assert secret.masked() == "****fXYZ"
    assert Secret("short").masked() == "****"


def test_redact_masks_every_occurrence():
    assert redact(f"a {KEY} b {KEY}", Secret(KEY)) == "a **** b ****"
    assert redact("nothing here", Secret(KEY)) == "nothing here"
    assert redact("anything", None) == "anything"


def test_a_log_line_holding_the_key_is_written_masked():
    formatter = RedactingFormatter("%(levelname)s %(message)s", Secret(KEY))
    record = logging.LogRecord("grokdash.x", logging.INFO, __file__, 1, "header was Bearer %s", (KEY,), None)
    assert formatter.format(record) == "INFO header was Bearer ****"
    assert record.getMessage() == f"header was Bearer {KEY}"  # other handlers see the record untouched
