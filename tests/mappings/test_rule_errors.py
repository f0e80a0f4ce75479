"""Rule files: every problem is reported with the line it is on; rules are data, never code."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings import check_rules, compile_rule
from mappings.errors import RuleError
from mappings.loader import bundled_rule_names, bundled_rules, load_rules, parse_rules

GOOD = """\
renkei_rules: 1
name: t
params: {member: jp-000000}
target:
  type: EvacuationSite
  id: "urn:ngsi-ld:EvacuationSite:${member}:{ID}"
attributes:
  name:
    languages:
      ja: {from: 名称, pipe: [nfkc, required]}
  capacity:
    from: 人数
    pipe: [to_int]
"""


def _problems(text: str) -> list[tuple[int, str]]:
    with pytest.raises(RuleError) as err:
        parse_rules(text, "t.yaml")
    return [(p.line, p.message) for p in err.value.problems]


def test_a_good_rule_loads() -> None:
    rule = parse_rules(GOOD, "t.yaml")
    assert [a.name for a in rule.attributes] == ["name", "capacity"]


def test_unknown_transform_is_reported_on_its_line() -> None:
    [(line, message)] = _problems(GOOD.replace("pipe: [to_int]", "pipe: [to_integer]"))
    assert line == 13
    assert "unknown transform 'to_integer'" in message


def test_bad_argument_is_reported_on_its_line() -> None:
    text = GOOD.replace("pipe: [to_int]", "pipe:\n      - nfkc\n      - {to_int: {mni: 0}}")
    [(line, message)] = _problems(text)
    assert line == 15
    assert "no argument 'mni'" in message


def test_all_problems_come_together_sorted_by_line() -> None:
    text = GOOD.replace("pipe: [nfkc, required]", "pipe: [nfkd, required]") \
        .replace("pipe: [to_int]", "pipe: [{to_int: {min: lots}}]") + "colour: blue\n"
    problems = _problems(text)
    assert [line for line, _ in problems] == [10, 13, 14]
    assert "unknown transform 'nfkd'" in problems[0][1]
    assert "expected a number" in problems[1][1]
    assert "unknown key 'colour'" in problems[2][1]


def test_yaml_syntax_error_has_a_line() -> None:
    [(line, message)] = _problems(GOOD.replace("  capacity:\n", "  capacity: [\n"))
    assert line >= 11 and message.startswith("YAML")


def test_duplicate_key_is_an_error() -> None:
    [(line, message)] = _problems(GOOD + "name: again\n")
    assert (line, message) == (14, "key 'name' is given twice")


def test_undeclared_parameter_is_an_error() -> None:
    [(line, message)] = _problems(GOOD.replace("${member}", "${city}"))
    assert line == 6 and "${city}" in message


def test_rule_text_is_never_evaluated() -> None:
    # A transform name that is Python is just an unknown name, and a YAML Python tag is refused.
    problems = _problems(GOOD.replace("pipe: [to_int]", "pipe: [\"__import__('os')\"]"))
    assert "unknown transform" in problems[0][1]
    problems = _problems(GOOD + "description: !!python/object/apply:os.system ['true']\n")
    assert problems[0][1].startswith("YAML")


def test_rule_error_message_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD.replace("to_int", "to_integer"), encoding="utf-8")
    with pytest.raises(RuleError) as err:
        load_rules(path)
    assert str(err.value).startswith(f"{path}:13: unknown transform 'to_integer'")
    assert (err.value.code, err.value.line) == ("rule_invalid", 13)


def test_check_rules_reports_instead_of_raising(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD.replace("to_int]", "to_int, {lookup: {table: missing}}]"),
                    encoding="utf-8")
    report = check_rules(path)
    assert not report.ok
    assert report.lines() == [f"{path}:13: no table 'missing' in this rule's `tables`"]


@pytest.mark.parametrize("name", bundled_rule_names())
def test_every_bundled_rule_set_checks_clean(name: str) -> None:
    report = check_rules(bundled_rules(name))
    assert report.ok, report.lines()
    compile_rule(load_rules(bundled_rules(name)))


def test_overlay_may_only_set_name_description_and_params(tmp_path: Path) -> None:
    base = bundled_rules("da_evacuation_sites")
    path = tmp_path / "city.yaml"
    path.write_text(f"renkei_rules: 1\nextends: {base}\nname: city\nparams: {{member: jp-1}}\n"
                    "attributes: {}\n", encoding="utf-8")
    with pytest.raises(RuleError) as err:
        load_rules(path)
    assert err.value.line == 5 and "'attributes'" in str(err.value)


def test_unknown_parameter_at_compile_time() -> None:
    with pytest.raises(RuleError) as err:
        compile_rule(parse_rules(GOOD), {"memebr": "jp-1"})
    assert "unknown parameter 'memebr'" in str(err.value)
