"""The tests of PyTorch's optimizer suite that fail with antigrad's classes and pass with
torch's, each with its reason. `make test-torch` fails when a test fails that is not listed
here (and passes with torch's classes) and when a listed test passes, so this is always the
current list: remove an entry when its fix lands.

Measured on the suite copy named in driver.MEASURED_SHA256 (386 CPU tests of SGD,
Adagrad, RMSprop, Adam, AdamW, NAdam and LBFGS; with torch's classes 294 pass, 92 skip).
"""

KNOWN_FAILURES: dict[str, str] = {}
