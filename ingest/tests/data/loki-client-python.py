"""Pushes a few records to a Loki push URL with python-logging-loki (a real Loki client).

Usage: python3 loki-client-python.py URL VERSION   (VERSION "1": JSON streams/values,
"0": the legacy labels/entries JSON). Each record is one POST. Used to capture the
loki-python-v*.jsonl fixtures and by the live client test.
"""

import logging
import sys
import warnings

import logging_loki

url, version = sys.argv[1], sys.argv[2]
warnings.simplefilter("ignore")
handler = logging_loki.LokiHandler(
    url=url,
    tags={"app": "checkout", "env": 'prod "eu"', "site": "zürich"},
    version=version,
)
logger = logging.getLogger("shop.checkout")
logger.setLevel(logging.DEBUG)
logger.addHandler(handler)
logger.info("order 1234 placed in 35 ms")
logger.warning('payment retry for card "4242" after timeout', extra={"tags": {"pod": "checkout-7d9f-x2"}})
logger.error("connection refused to redis:6379\n\tat Client.connect (net.js:1)")
