"""Every code a conversion reports can be looked up with `torchready explain`, under one name."""

from torchready.convert.findings import CODE_NAMES
from torchready.lint.other_codes import OTHER_CODES
from torchready.lint.rules import all_rules


def test_every_dynamic_code_is_a_rule_or_a_documented_other_code():
    documented = {rule.CODE: rule.NAME for rule in all_rules()}
    documented.update({entry.code: entry.name for entry in OTHER_CODES})
    assert {code: documented.get(code) for code in CODE_NAMES} == CODE_NAMES
