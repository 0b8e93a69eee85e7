"""Poverty lines, per-capita income and FGT (docs/method.md 4; Example 1 in section 8)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from server.analysis import poverty as pv
from server.analysis.poverty import Household

# docs/method.md 8, Example 1: z = 1000 for every household; (Y, n).
EXAMPLE_1 = [(2000, 4), (3000, 4), (4500, 5), (3000, 3), (6000, 4), (2400, 2)]


@pytest.fixture
def example_1():
    return [Household(i, income, size, 1000) for i, (income, size) in enumerate(EXAMPLE_1, start=1)]


@pytest.fixture(scope="module")
def lines():
    return pv.PovertyLines.shipped()


def test_example_1_household_weighted(example_1):
    assert pv.fgt(example_1, 0, "household") == Fraction(1, 2)
    assert pv.fgt(example_1, 1, "household") == Fraction(17, 120)
    assert pv.fgt(example_1, 2, "household") == Fraction(43, 800)


def test_example_1_person_weighted(example_1):
    assert pv.fgt(example_1, 0) == Fraction(13, 22)
    assert pv.fgt(example_1, 1) == Fraction(7, 44)
    assert pv.fgt(example_1, 2) == Fraction(13, 220)


def test_example_1_table_and_y_equal_to_z_is_not_poor(example_1):
    table = pv.fgt_table(example_1)
    assert table.person == {0: Fraction(13, 22), 1: Fraction(7, 44), 2: Fraction(13, 220)}
    assert table.household == {0: Fraction(1, 2), 1: Fraction(17, 120), 2: Fraction(43, 800)}
    assert (table.n_households, table.n_persons, table.n_poor_households, table.n_poor_persons) == (6, 22, 3, 13)
    hh4 = example_1[3]
    assert hh4.per_capita() == 1000 and not hh4.is_poor()


def test_floats_in_floats_out(example_1):
    floats = [Household(h.id, float(h.income_monthly), h.size, 1000.0) for h in example_1]
    assert isinstance(pv.fgt(floats, 1), float)
    assert pv.fgt(floats, 1) == pytest.approx(7 / 44)


def test_negative_income_is_bottom_coded():
    assert pv.per_capita(-500, 2) == (0, True)
    assert pv.per_capita(Decimal("1500.5"), 2) == (Fraction(3001, 4), False)
    poor = Household("n", -500, 2, 1000)
    assert pv.fgt([poor], 2) == 1          # the gap is capped at 1
    with pytest.raises(ValueError):
        pv.per_capita(100, 0)


def test_survey_weights_multiply_each_term():
    a, b = Household("a", 500, 1, 1000, weight=3), Household("b", 2000, 1, 1000, weight=1)
    assert pv.fgt([a, b], 0) == Fraction(3, 4)
    assert pv.fgt([a, b], 1) == Fraction(3, 8)
    assert pv.fgt([Household("z", 500, 1, 1000, weight=0)], 0) is None


def test_consumption_measure():
    h = Household("c", 800, 2, 1000, consumption_monthly=2400)
    assert h.is_poor("income") and not h.is_poor("consumption")
    with pytest.raises(ValueError, match="no consumption"):
        pv.fgt([Household("d", 800, 2, 1000)], 0, measure="consumption")


def test_decomposition_of_example_1(example_1):
    tagged = [Household(h.id, h.income_monthly, h.size, h.line, attrs={"sex_head": "F" if h.id <= 2 else "M"})
              for h in example_1]
    result = pv.decompose(tagged, "sex_head", 1)
    rows = {r.group: r for r in result.groups}
    assert result.total == Fraction(7, 44)
    assert rows["F"].population_share == Fraction(8, 22) and rows["F"].p_alpha == Fraction(3, 8)
    assert sum(r.contribution for r in result.groups) == 1
    assert rows["F"].contribution == Fraction(8, 22) * Fraction(3, 8) / Fraction(7, 44)


def test_contribution_is_none_without_poverty():
    rich = [Household("a", 5000, 1, 1000, attrs={"g": 1})]
    assert pv.decompose(rich, "g", 0).groups[0].contribution is None


# -- property tests ----------------------------------------------------------------

money = st.one_of(st.integers(-2000, 20000), st.decimals(-2000, 20000, places=2))
households = st.lists(
    st.builds(lambda i, y, n, z, w, g: Household(i, y, n, z, weight=w, attrs={"g": g}),
              st.integers(), money, st.integers(1, 12), st.integers(500, 1500),
              st.one_of(st.just(1), st.integers(0, 5), st.fractions(0, 5)), st.sampled_from(["a", "b", "c", None])),
    min_size=1, max_size=25)


@given(households, st.sampled_from([0, 1, 2, 3]), st.sampled_from(["person", "household"]))
def test_decomposition_recombines_exactly(people, alpha, weighting):
    result = pv.decompose(people, "g", alpha, weighting)
    if result.total is None:
        return
    assert sum(r.population_share * r.p_alpha for r in result.groups if r.p_alpha is not None) == result.total
    if result.total:
        assert sum(r.contribution for r in result.groups if r.contribution is not None) == 1


@given(households, st.sampled_from(["person", "household"]))
def test_fgt_ordering(people, weighting):
    p0, p1, p2 = (pv.fgt(people, a, weighting) for a in (0, 1, 2))
    if p0 is None:
        return
    assert 1 >= p0 >= p1 >= p2 >= 0


@given(households)
def test_weights_of_one_equal_unweighted(people):
    ones = [Household(h.id, h.income_monthly, h.size, h.line, weight=1) for h in people]
    plain = [Household(h.id, h.income_monthly, h.size, h.line) for h in people]
    for alpha in (0, 1, 2):
        for weighting in ("person", "household"):
            assert pv.fgt(ones, alpha, weighting) == pv.fgt(plain, alpha, weighting)
    # and a household of n persons counts like n one-person households of the same y
    split = [Household((h.id, k), pv.per_capita(h.income_monthly, h.size)[0], 1, h.line)
             for h in plain for k in range(h.size)]
    assert pv.fgt(plain, 2, "person") == pv.fgt(split, 2, "household")


# -- poverty lines -------------------------------------------------------------------

def test_madhya_pradesh_urban_2011_12(lines):
    line = lines.line("Madhya Pradesh", "urban")
    assert line.value == 897 and line.method == "Tendulkar" and line.year == "2011-12"
    assert "Press Note" in line.source and line.verification.startswith("verified")
    assert line.status == "official"
    assert lines.line("madhya pradesh", "Rural", "2011-2012").value == 771


def test_missing_line_names_it_and_says_how_to_add(lines):
    with pytest.raises(pv.MissingLine) as info:
        lines.line("Uttar Pradesh", "rural", "1999-2000", "Lakdawala")
    message = str(info.value)
    assert "Uttar Pradesh, rural, 1999-2000, method Lakdawala" in message
    assert "method,reference_year,state,sector,line_rs_pcpm" in message and "never guessed" in message
    assert (info.value.state, info.value.year) == ("Uttar Pradesh", "1999-2000")
    with pytest.raises(pv.MissingLine, match="For 1999-2000 the table has method\\(s\\): Lakdawala"):
        lines.line("Uttar Pradesh", "rural", "1999-2000")


def test_successor_states_and_old_names(lines):
    telangana = lines.line("Telangana", "urban")
    assert telangana.state == "Andhra Pradesh" and telangana.value == 1009
    assert telangana.requested_state == "Telangana" and "Andhra Pradesh" in telangana.note
    assert lines.line("Ladakh", "rural").value == 891
    assert lines.line("Orissa", "rural", "1999-2000", "Lakdawala").value == Decimal("323.92")
    assert lines.line("Odisha", "rural").value == 695


def test_rangarajan_only_when_asked_and_derived_rows_stay_derived(lines):
    assert lines.line("All India", "rural").value == 816
    rangarajan = lines.line("All India", "rural", method="Rangarajan")
    assert rangarajan.value == 972 and rangarajan.status == "not adopted"
    chandigarh = lines.line("Chandigarh", "rural")
    assert chandigarh.status == "derived" and chandigarh.derived_from == "Punjab urban"


def test_bad_sector_is_an_error(lines):
    with pytest.raises(ValueError, match="rural or urban"):
        lines.line("Maharashtra", "peri-urban")


def test_updated_line_is_unofficial(lines):
    base = lines.line("Maharashtra", "rural")
    updated = pv.updated_line(base, 100, 150, "CPI-AL (illustrative)", target_year="2023-24")
    assert updated.value == Fraction(1450.5) and updated.status == "updated (unofficial)"
    assert "updated (unofficial)" in updated.label and "z_t = z_base * I_t / I_base" in updated.source
    assert updated.year == "2023-24" and "967" in updated.derived_from
    with pytest.raises(ValueError):
        pv.updated_line(base, 0, 150, "CPI")


def test_ppp_worked_example():
    # docs/method.md 4.2: $3.00 x PPP 20.0 (a placeholder) x 365/12 = Rs 1,825 per person per month.
    assert pv.ppp_line(Decimal("3.00"), Decimal("20.0")) == 1825
    assert pv.ppp_line(3.00, 20.0) == pytest.approx(1825)
    assert pv.ppp_line(Decimal("3.00"), Decimal("20.0"), Fraction(11, 10)) == Fraction(20075, 10)
    with pytest.raises(ValueError):
        pv.ppp_line(3, 0)


def test_international_lines_keep_their_sources():
    wb_lines = pv.international_lines()
    assert wb_lines["ipl_2021"].usd_per_day == Decimal("3.00") and wb_lines["ipl_2021"].ppp_base_year == 2021
    assert "World Bank" in wb_lines["ipl_2021"].source


def test_custom_line_table():
    text = ("method,reference_year,state,sector,line_rs_pcpm,source\n"
            "Lakdawala,1999-2000,Uttar Pradesh,rural,336.88,my source\n")
    assert pv.PovertyLines.from_csv(text).line("Uttar Pradesh", "rural", "1999-2000", "Lakdawala").value == \
        Decimal("336.88")


# -- grouping variables ----------------------------------------------------------------

@pytest.mark.parametrize("area, unit, expected", [
    (0, "acre", "marginal"), (Decimal("0.99"), "acre", "marginal"), (1, "acre", "small"),
    (Decimal("2.49"), "acres", "small"), (Decimal("2.5"), "acre", "semi-medium"), (Decimal("4.8"), "acre", "semi-medium"),
    (Decimal("4.9"), "acre", "medium"), (10, "acre", "medium"), (Decimal("10.01"), "acre", "large"),
    (1, "hectare", "small"), (Decimal("1.98"), "ha", "semi-medium"), (2, "ha", "medium"),
    (40, "guntha", "small"), (39, "guntha", "marginal"),
])
def test_land_class_source_acres(area, unit, expected):
    assert pv.land_class(area, unit) == expected


@pytest.mark.parametrize("area, unit, expected", [
    (Decimal("0.99"), "ha", "marginal"), (1, "ha", "small"), (2, "ha", "semi-medium"), (4, "ha", "medium"),
    (Decimal("9.99"), "ha", "medium"), (10, "ha", "large"), (Decimal("2.47105"), "acre", "small"),
])
def test_land_class_census_hectares(area, unit, expected):
    assert pv.land_class(area, unit, scheme="census_hectares") == expected


def test_bigha_needs_the_local_factor():
    with pytest.raises(ValueError, match="bigha_in_acres"):
        pv.land_class(3, "bigha")
    assert pv.land_class(3, "bigha", bigha_in_acres=Fraction(5, 8)) == "small"
    assert pv.land_class(0, "acre", landless=True) == "landless"


@pytest.mark.parametrize("group, religion, expected", [
    (1, 1, "ST"), (2, 2, "SC"), (3, 1, "OBC"), (3, 2, "Muslim"), (9, 2, "Muslim"), (9, 1, "other"),
    ("1", "2", "ST"), (None, 2, None),
])
def test_social_group_for_fgt(group, religion, expected):
    assert pv.social_group_for_fgt(group, religion) == expected


def test_social_group_order_can_keep_obc_first():
    assert pv.social_group_for_fgt(3, 2, muslim_over_obc=False) == "OBC"
    with pytest.raises(ValueError):
        pv.social_group_for_fgt(5, 1)
