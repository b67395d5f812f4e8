"""landing/columns.py: which column of an export plays which role."""

import pytest

from forecast_assets.landing.columns import ColumnProblem, check_mapping, parse_mapping, resolve


def roles(header: list[str], explicit: dict | None = None) -> dict[str, str]:
    return resolve(header, explicit or {}).sources


def test_common_names_are_found_whatever_their_case_accents_and_separators():
    assert roles(["Order Date", "SKU", "Product Category", "QTY", "Total Amount"]) == {
        "produto": "SKU",
        "categoria_valor": "Product Category",
        "quantidade": "QTY",
        "valor_total": "Total Amount",
        "data_venda": "Order Date",
    }
    assert roles(["Código", "Categoría", "Cantidad", "Importe", "Fecha"])["produto"] == "Código"
    assert roles(["Item", "Qty (kg)", "Valor Total (R$)", "Date [UTC]"])["valor_total"] == "Valor Total (R$)"
    assert roles(["produto", "Data da Venda", "VALOR-TOTAL"]) == {
        "produto": "produto",
        "valor_total": "VALOR-TOTAL",
        "data_venda": "Data da Venda",
    }


def test_the_roles_own_name_wins_over_a_synonym():
    assert roles(["produto", "item", "valor_total", "total", "data_venda"])["produto"] == "produto"
    assert roles(["produto", "item", "valor_total", "total", "data_venda"])["valor_total"] == "valor_total"


def test_two_candidates_for_one_role_are_refused_naming_both_and_the_option():
    with pytest.raises(ColumnProblem) as problem:
        resolve(["product", "sku", "amount", "date"], {})
    assert "'product' and 'sku' could each be produto" in str(problem.value) and "COLUMNS" in str(problem.value)
    assert roles(["product", "sku", "amount", "date"], {"produto": "sku"})["produto"] == "sku"


def test_missing_roles_are_derived_and_said():
    mapping = resolve(["order_date", "item", "unit_price"], {})
    assert mapping.missing == ["categoria_valor", "quantidade", "valor_total"]
    notes = " ".join(mapping.notes)
    assert "category (none)" in notes and "one unit sold" in notes and "quantity x 'unit_price'" in notes
    # a revenue column present: the unit price is an extra column, not the revenue
    assert "preco_unitario" not in resolve(["item", "price", "revenue", "date"], {}).positions


@pytest.mark.parametrize(
    ("header", "explicit", "expected"),
    [
        (["sku", "amount"], {}, "no column for data_venda"),
        (["sku", "amount", "date"], {"produto": "article"}, "maps produto to the column 'article', which the file"),
        (["a", "b", "c"], {}, "no column for produto, data_venda, valor_total"),
    ],
)
def test_a_header_that_cannot_be_mapped_is_refused(header, explicit, expected):
    with pytest.raises(ColumnProblem) as problem:
        resolve(header, explicit)
    assert expected in str(problem.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("produto=sku,data_venda", "expected role=column"),
        ("product=sku", "unknown role(s) 'product'"),
        ("produto=sku,categoria_valor=SKU", "maps two roles to the column 'SKU'"),
    ],
)
def test_a_malformed_mapping_is_refused_naming_the_option(text, expected):
    with pytest.raises(ValueError) as error:
        parse_mapping(text)
    assert str(error.value).startswith("COLUMNS") and expected in str(error.value)


def test_a_mapping_parses_to_roles():
    assert parse_mapping(" produto = sku , data_venda=Order Date,") == {"produto": "sku", "data_venda": "Order Date"}
    assert check_mapping({}) == {}
