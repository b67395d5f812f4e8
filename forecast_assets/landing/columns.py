"""Which column of an export plays which role: the five sales columns (and a unit price), named by the user
(`COLUMNS="produto=sku,data_venda=order_date"`) or found by their names in English, Portuguese and Spanish.

A role found by itself is said in the file's notes, so the run's log and metadata show how the file was read.
Two columns that could fill one role are refused, never chosen between. Missing roles that a sale can do
without are derived and said: no category -> one category `(none)`; no quantity -> one unit per row (order-line
exports); no revenue but a unit price -> quantity x unit price.
"""

import re
import unicodedata
from dataclasses import dataclass, field

import pandas as pd

from forecast_assets.landing.schema import COLUMNS

UNIT_PRICE = "preco_unitario"  # not stored: revenue is quantity x unit price when the export has no revenue
ROLES = (*COLUMNS, UNIT_PRICE)
NO_CATEGORY = "(none)"
COLUMNS_OPTION = "COLUMNS (run-data --columns, raw_sales config `columns`, FORECAST_COLUMNS)"

# Names as `key()` makes them: letters and digits only, accents and case gone (`Data da Venda` -> datadavenda).
SYNONYMS = {
    "produto": (
        "product", "products", "sku", "item", "produto", "producto", "productname", "productid", "productcode",
        "itemname", "itemid", "itemcode", "articulo", "artigo", "article", "nomeproduto", "codigoproduto",
        "codproduto", "codigo", "codigodoproduto", "descricaoproduto", "nombreproducto", "codigoproducto", "stockcode",
    ),
    "categoria_valor": (
        "category", "categoria", "categorias", "categoryname", "productcategory", "categoriaproduto",
        "categoriadeproduto", "categoriaproducto", "familia", "family", "departamento", "department", "segmento",
    ),
    "quantidade": (
        "quantity", "qty", "units", "unitssold", "quantitysold", "quantidade", "qtd", "qtde", "quant",
        "quantidadevendida", "cantidad", "cantidadvendida", "unidades", "pieces",
    ),
    "valor_total": (
        "revenue", "amount", "total", "sales", "valor", "importe", "totalamount", "salesamount", "linetotal",
        "totalprice", "totalsales", "netsales", "grosssales", "valorvenda", "valortotalvenda", "receita",
        "faturamento", "importetotal", "ventas", "totalventa", "montototal", "monto",
    ),
    "data_venda": (
        "date", "orderdate", "saledate", "salesdate", "data", "fecha", "datavenda", "datadavenda", "datapedido",
        "datadopedido", "fechaventa", "fechadeventa", "fechapedido", "invoicedate", "transactiondate", "day",
        "dia", "datasaida", "dataemissao",
    ),
    UNIT_PRICE: (
        "unitprice", "price", "preco", "precounitario", "valorunitario", "precio", "preciounitario",
        "priceeach", "itemprice", "sellingprice",
    ),
}  # fmt: skip


class ColumnProblem(ValueError):
    """The file's columns cannot be mapped to the roles; str() says which and names the option."""


def key(name: str) -> str:
    """A column name as compared: a unit in brackets (`Valor Total (R$)`, `Qty [kg]`), accents, case and every
    separator gone."""
    name = re.sub(r"\s*[(\[][^)\]]*[)\]]", "", name).strip() or name
    decomposed = unicodedata.normalize("NFKD", name)
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in decomposed if not unicodedata.combining(c)).casefold())


def parse_mapping(text: str | None) -> dict[str, str]:
    """`produto=sku,data_venda=order_date` -> {role: column}; ValueError naming the option when malformed."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        role, sep, column = part.partition("=")
        role, column = role.strip(), column.strip()
        if not sep or not role or not column:
            raise ValueError(f"COLUMNS {part.strip()!r}: expected role=column, e.g. produto=sku,data_venda=order_date")
        mapping[role] = column
    return check_mapping(mapping)


def check_mapping(mapping: dict[str, str]) -> dict[str, str]:
    """A user's mapping, refused when it names an unknown role or maps two roles to one column."""
    if unknown := [r for r in mapping if r not in ROLES]:
        raise ValueError(f"COLUMNS names unknown role(s) {', '.join(map(repr, unknown))}; expected {', '.join(ROLES)}")
    seen: dict[str, str] = {}
    for role, column in mapping.items():
        if key(column) in seen:
            raise ValueError(
                f"COLUMNS maps two roles to the column {column!r} ({seen[key(column)]} and {role}); expected one "
                "column per role"
            )
        seen[key(column)] = role
    return dict(mapping)


@dataclass
class Mapping:
    """role -> the position of its column in the file's header; derived roles and what to say about them."""

    positions: dict[str, int]
    sources: dict[str, str]  # role -> the file's column name
    missing: list[str] = field(default_factory=list)  # roles the file does not have (derived)
    notes: list[str] = field(default_factory=list)

    def label(self, role: str) -> str:
        """How a reason names a role: `data_venda`, or `data_venda (column 'order_date')`."""
        if role == "valor_total" and UNIT_PRICE in self.positions:
            return f"valor_total (unit price column {self.sources[UNIT_PRICE]!r})"
        source = self.sources.get(role)
        return role if source is None or source == role else f"{role} (column {source!r})"


def resolve(header: list[str], explicit: dict[str, str]) -> Mapping:
    """Map a header's columns to the roles: the user's mapping first, then the roles' own names, then their
    synonyms. ColumnProblem when a named column is absent, a role is ambiguous or a required one is missing."""
    keys = [key(h) for h in header]
    positions: dict[str, int] = {}
    for role, column in explicit.items():
        exact = [i for i, h in enumerate(header) if h == column]
        loose = [i for i, k in enumerate(keys) if k == key(column)]
        found = exact or loose
        if not found:
            raise ColumnProblem(
                f"{COLUMNS_OPTION} maps {role} to the column {column!r}, which the file does not have; expected one "
                f"of its columns: {_shown(header)}"
            )
        if len(found) > 1:
            raise ColumnProblem(f"the column {column!r} ({role}) appears {len(found)} times; expected it once")
        positions[role] = found[0]
    found_by_name: list[str] = []
    for role in ROLES:
        if role in positions:
            continue
        taken = set(positions.values())
        for names in ((key(role),), SYNONYMS[role]):
            candidates = [i for i, k in enumerate(keys) if k in names and i not in taken]
            if len(candidates) > 1:
                both = " and ".join(repr(header[i]) for i in candidates)
                raise ColumnProblem(
                    f"the columns {both} could each be {role}; expected one: name the one to use with "
                    f"{COLUMNS_OPTION}, e.g. {role}={header[candidates[0]]}"
                )
            if candidates:
                positions[role] = candidates[0]
                if header[candidates[0]] != role:
                    found_by_name.append(f"{role} <- {header[candidates[0]]!r}")
                break
    required = ["produto", "data_venda"] + ([] if UNIT_PRICE in positions else ["valor_total"])
    if absent := [r for r in required if r not in positions]:
        needs = {
            "produto": "product/sku/item/produto",
            "data_venda": "date/order_date/data/fecha",
            "valor_total": "revenue/amount/total/valor, or a unit price",
        }
        raise ColumnProblem(
            f"no column for {', '.join(absent)} ({'; '.join(needs[r] for r in absent)}); its columns are "
            f"{_shown(header)}; expected such a column, or one named with {COLUMNS_OPTION}, e.g. {absent[0]}=<column>"
        )
    if "valor_total" in positions:
        positions.pop(UNIT_PRICE, None)  # the export's own revenue counts; its unit price is an extra column
    sources = {role: header[i] for role, i in positions.items()}
    mapping = Mapping(positions, sources, missing=[r for r in COLUMNS if r not in positions])
    if found_by_name:
        mapping.notes.append(f"columns found by name: {', '.join(found_by_name)} (COLUMNS to choose others)")
    if "categoria_valor" in mapping.missing:
        mapping.notes.append(f"no category column: every product is in the category {NO_CATEGORY}")
    if "quantidade" in mapping.missing:
        mapping.notes.append("no quantity column: each row is one unit sold (an order-line export)")
    if UNIT_PRICE in positions:
        mapping.notes.append(f"no revenue column: valor_total is quantity x {sources[UNIT_PRICE]!r}")
    return mapping


def _shown(header: list[str]) -> str:
    return ", ".join(repr(h) for h in header[:12]) + (" ..." if len(header) > 12 else "")


def score(header: list[str], explicit: dict[str, str]) -> int:
    """How many of a candidate header's cells name a role: how the delimiter that splits a header is chosen."""
    names = {key(c) for c in explicit.values()} | {key(r) for r in ROLES}
    names.update(*SYNONYMS.values())
    return sum(key(cell) in names for cell in header)


def complete(columns: dict[str, object], mapping: Mapping, rows: int) -> pd.DataFrame:
    """The roles' cells as one frame (COLUMNS, and the unit price when revenue is derived from it): a missing
    category is `(none)`, a missing quantity one unit; a derived revenue is left empty for validation."""
    frame = pd.DataFrame({role: columns[role] for role in mapping.positions}, dtype=object)
    if len(frame) != rows:
        frame = frame.reindex(range(rows))
    fills = {"categoria_valor": NO_CATEGORY, "quantidade": "1", "valor_total": None}
    for role in mapping.missing:
        frame[role] = pd.Series([fills[role]] * rows, dtype=object, index=frame.index)
    return frame[[*COLUMNS, *([UNIT_PRICE] if UNIT_PRICE in mapping.positions else [])]]
