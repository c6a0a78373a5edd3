import logging

from grokdash.secret import RedactingFilter, Secret, redact

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


def test_a_log_record_holding_the_key_is_written_masked(caplog):
    logger = logging.getLogger("grokdash.test.secret")
    logger.addFilter(RedactingFilter(Secret(KEY)))
    with caplog.at_level(logging.INFO, logger="grokdash.test.secret"):
        logger.info("header was Bearer %s", KEY)
    assert KEY not in caplog.text
    assert "Bearer ****" in caplog.text
