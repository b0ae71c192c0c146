"""The fixed vocabulary of the demo portfolio: names, places, offices, product lines, payer profiles.

Everything here is data, so the realism of the portfolio can be reviewed (and tuned) without
reading the generator. Weights are relative frequencies; money is COP unless a line says USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# --- people ---------------------------------------------------------------------------------

FIRST_NAMES_F = (
    "María", "Ana", "Luz", "Carolina", "Paula", "Daniela", "Laura", "Valentina", "Sofía", "Camila",
    "Juliana", "Natalia", "Andrea", "Diana", "Sandra", "Claudia", "Patricia", "Gloria", "Marta", "Adriana",
    "Lina", "Paola", "Catalina", "Isabella", "Mariana", "Alejandra", "Ángela", "Yolanda", "Luisa", "Ximena",
)  # fmt: skip
FIRST_NAMES_M = (
    "José", "Juan", "Carlos", "Luis", "Andrés", "Jorge", "Diego", "Santiago", "Sebastián", "Felipe",
    "Alejandro", "Miguel", "Camilo", "Julián", "Javier", "Óscar", "Fernando", "Ricardo", "Hernán", "Mauricio",
    "Daniel", "David", "Nicolás", "Esteban", "Gustavo", "Álvaro", "Jaime", "Édgar", "Fabián", "Wilson",
)  # fmt: skip
MIDDLE_NAMES_F = ("Alejandra", "Fernanda", "Isabel", "Lucía", "Marcela", "Cristina", "del Pilar", "Eugenia")
MIDDLE_NAMES_M = ("Alberto", "Antonio", "Eduardo", "Enrique", "Francisco", "Ignacio", "Manuel", "Mario")
SURNAMES = (
    "Rodríguez", "Gómez", "González", "Martínez", "García", "López", "Hernández", "Sánchez", "Ramírez",
    "Pérez", "Díaz", "Muñoz", "Rojas", "Moreno", "Jiménez", "Vargas", "Castro", "Gutiérrez", "Ortiz",
    "Álvarez", "Ruiz", "Suárez", "Torres", "Romero", "Quintero", "Ospina", "Restrepo", "Cardona", "Zapata",
    "Gil", "Mejía", "Valencia", "Arango", "Giraldo", "Salazar", "Londoño", "Henao", "Agudelo", "Bermúdez",
    "Cárdenas", "Castaño", "Correa", "Duque", "Echeverry", "Franco", "Montoya", "Osorio", "Parra", "Peña",
)  # fmt: skip
COMPANY_WORDS = (
    "Inversiones", "Distribuidora", "Comercializadora", "Transportes", "Constructora", "Servicios",
    "Industrias", "Agropecuaria", "Soluciones", "Logística",
)  # fmt: skip
COMPANY_NAMES = (
    "del Valle", "Andina", "El Porvenir", "La Sabana", "Santa Fe", "del Caribe", "Los Alpes", "Cafetera",
    "Nacional", "San Jorge", "La Esperanza", "Bolivariana", "del Pacífico", "Altiplano", "Montañera",
)  # fmt: skip
COMPANY_FORMS = ("S.A.S.", "S.A.", "Ltda.", "S.A.S. BIC")
EMAIL_DOMAINS = ("example.com", "example.co", "example.net", "example.org")

# --- places ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Office:
    office_id: str
    name: str
    region: str
    parent_id: str
    country: str = "CO"


REGIONAL_OFFICES = (
    ("REG-CENTRO", "Regional Centro"),
    ("REG-ANTIOQUIA", "Regional Antioquia y Eje Cafetero"),
    ("REG-OCCIDENTE", "Regional Occidente"),
    ("REG-CARIBE", "Regional Caribe"),
    ("REG-ORIENTE", "Regional Oriente"),
)
OFFICES = (
    Office("OF-BOG", "Oficina Bogotá Chicó", "Bogotá D.C.", "REG-CENTRO"),
    Office("OF-BOG2", "Oficina Bogotá Centro", "Bogotá D.C.", "REG-CENTRO"),
    Office("OF-CUN", "Oficina Chía", "Cundinamarca", "REG-CENTRO"),
    Office("OF-TUN", "Oficina Tunja", "Boyacá", "REG-CENTRO"),
    Office("OF-IBG", "Oficina Ibagué", "Tolima", "REG-CENTRO"),
    Office("OF-VIL", "Oficina Villavicencio", "Meta", "REG-CENTRO"),
    Office("OF-MED", "Oficina Medellín El Poblado", "Antioquia", "REG-ANTIOQUIA"),
    Office("OF-PEI", "Oficina Pereira", "Risaralda", "REG-ANTIOQUIA"),
    Office("OF-MZL", "Oficina Manizales", "Caldas", "REG-ANTIOQUIA"),
    Office("OF-AXM", "Oficina Armenia", "Quindío", "REG-ANTIOQUIA"),
    Office("OF-CLO", "Oficina Cali", "Valle del Cauca", "REG-OCCIDENTE"),
    Office("OF-PSO", "Oficina Pasto", "Nariño", "REG-OCCIDENTE"),
    Office("OF-PPN", "Oficina Popayán", "Cauca", "REG-OCCIDENTE"),
    Office("OF-BAQ", "Oficina Barranquilla", "Atlántico", "REG-CARIBE"),
    Office("OF-CTG", "Oficina Cartagena", "Bolívar", "REG-CARIBE"),
    Office("OF-SMR", "Oficina Santa Marta", "Magdalena", "REG-CARIBE"),
    Office("OF-MTR", "Oficina Montería", "Córdoba", "REG-CARIBE"),
    Office("OF-BGA", "Oficina Bucaramanga", "Santander", "REG-ORIENTE"),
    Office("OF-CUC", "Oficina Cúcuta", "Norte de Santander", "REG-ORIENTE"),
)
# Colombian debtors by department (roughly by population); each maps to its office above.
CO_REGIONS = (
    ("Bogotá D.C.", 20), ("Antioquia", 14), ("Valle del Cauca", 10), ("Cundinamarca", 7),
    ("Atlántico", 6), ("Santander", 5), ("Bolívar", 4), ("Córdoba", 3), ("Norte de Santander", 3),
    ("Tolima", 3), ("Boyacá", 3), ("Nariño", 3), ("Magdalena", 3), ("Cauca", 3), ("Risaralda", 2),
    ("Caldas", 2), ("Meta", 2), ("Quindío", 1),
)  # fmt: skip
CO_CITIES = {
    "Bogotá D.C.": "Bogotá", "Antioquia": "Medellín", "Valle del Cauca": "Cali", "Cundinamarca": "Chía",
    "Atlántico": "Barranquilla", "Santander": "Bucaramanga", "Bolívar": "Cartagena", "Córdoba": "Montería",
    "Norte de Santander": "Cúcuta", "Tolima": "Ibagué", "Boyacá": "Tunja", "Nariño": "Pasto",
    "Magdalena": "Santa Marta", "Cauca": "Popayán", "Risaralda": "Pereira", "Caldas": "Manizales",
    "Meta": "Villavicencio", "Quindío": "Armenia",
}  # fmt: skip
STREET_KINDS = ("Calle", "Carrera", "Avenida", "Transversal", "Diagonal")
# Mobile prefixes of Colombian operators (Claro, Movistar, Tigo, WOM...).
CO_MOBILE_PREFIXES = ("300", "301", "302", "304", "305", "310", "311", "312", "313", "314", "315", "316",
                      "317", "318", "319", "320", "321", "322", "323", "350", "351")  # fmt: skip


@dataclass(frozen=True)
class Abroad:
    """Debtors living abroad (emigrants paying a Colombian policy, or foreign customers)."""

    country: str
    regions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (region, IANA zone, area codes)
    dial: str
    local_digits: int  # length of the national number, area code included
    weight: int
    usd_share: float  # share of their accounts billed in USD


ABROAD = (
    Abroad(
        "US",
        (
            ("Florida", "America/New_York", ("305", "786", "407", "813")),
            ("New York", "America/New_York", ("212", "718", "917")),
            ("New Jersey", "America/New_York", ("201", "973")),
            ("Texas", "America/Chicago", ("713", "214", "512")),
            ("California", "America/Los_Angeles", ("213", "415", "619")),
        ),
        "1",
        10,
        60,
        0.5,
    ),
    Abroad(
        "ES", (("Madrid", "Europe/Madrid", ("6",)), ("Cataluña", "Europe/Madrid", ("6",))), "34", 9, 15, 0.0
    ),
    Abroad("MX", (("Ciudad de México", "America/Mexico_City", ("55",)),), "52", 10, 8, 0.0),
    Abroad("PA", (("Panamá", "America/Panama", ("6",)),), "507", 8, 7, 1.0),
    Abroad("EC", (("Pichincha", "America/Guayaquil", ("99",)),), "593", 9, 10, 1.0),
)
ABROAD_SHARE = 0.08
COMPANY_SHARE = 0.06

# --- the business -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductLine:
    """A ramo (or the consumer loan book): how it bills and what it costs per period."""

    line_id: str
    name: str
    weight: int
    source: str  # the core system that bills it
    monthly: bool  # False: one premium a year (SOAT)
    min_amount: Decimal
    max_amount: Decimal
    due_days: int  # days from issue to due
    usd_min: Decimal = Decimal("20")
    usd_max: Decimal = Decimal("300")
    policy_prefix: str = "POL"


PRODUCT_LINES = (
    ProductLine("auto", "Automóviles", 22, "core_polizas", True, Decimal("120000"), Decimal("650000"), 20),
    ProductLine("vida", "Vida individual", 18, "core_polizas", True, Decimal("35000"), Decimal("320000"), 25),
    ProductLine("hogar", "Hogar", 12, "core_polizas", True, Decimal("28000"), Decimal("160000"), 20),
    ProductLine("salud", "Salud", 16, "core_polizas", True, Decimal("150000"), Decimal("950000"), 15),
    ProductLine("soat", "SOAT", 10, "core_polizas", False, Decimal("240000"), Decimal("1150000"), 10),
    ProductLine(
        "consumo",
        "Crédito de consumo",
        22,
        "core_creditos",
        True,
        Decimal("180000"),
        Decimal("2600000"),
        15,
        Decimal("60"),
        Decimal("900"),
        "CRE",
    ),
)
REFERENCE_SOURCE = "core_polizas"
PAYMENT_SOURCES = {"bank": "banco", "cash": "recaudo"}
PROMISE_SOURCES = {"call_center": "call_center", "agent": "call_center", "portal": "portal",
                   "whatsapp": "portal", "ivr": "call_center"}  # fmt: skip

AGENCY_NAMES = (
    "Agencia Seguros del Valle", "Asesores Andinos", "Corredores del Caribe", "Protección Total",
    "Seguros La Montaña", "Agencia Santa Fe", "Previsión Antioqueña", "Tu Póliza Ya", "Cobertura Oriente",
    "Aliados en Seguros",
)  # fmt: skip
PARENT_AGENCIES = (("AG-RED-1", "Red Nacional de Agencias"), ("AG-RED-2", "Alianza de Intermediarios"))

# --- payers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayerProfile:
    name: str
    weight: int
    late_share: float  # share of instalments paid after the due date
    late_days: tuple[int, int, int]  # triangular(low, high, mode) days after due when late
    promise_share: float  # of late instalments, how many get a promise to pay
    promise_kept: float  # of promises, how many are kept
    partial_share: float  # of payments, how many pay only part first
    opening_arrears: tuple[int, int]  # past-due instalments already owed at the start (max, share %)


PROFILES = (
    PayerProfile("on_time", 58, 0.06, (1, 10, 3), 0.10, 0.95, 0.01, (0, 0)),
    PayerProfile("late", 22, 0.65, (3, 45, 12), 0.30, 0.75, 0.05, (1, 15)),
    PayerProfile("chronic", 12, 0.90, (25, 95, 45), 0.55, 0.40, 0.20, (2, 60)),
    PayerProfile("defaulting", 8, 0.40, (5, 40, 15), 0.65, 0.05, 0.10, (3, 30)),
)
"""``defaulting`` payers behave like late payers until their default month, then stop paying."""

# Lateness by the due date's calendar month: January ("cuesta de enero") and February are hard,
# June and December come with the "prima de servicios" (mid-year and year-end bonuses).
SEASONAL_LATENESS = {1: 1.45, 2: 1.2, 3: 1.0, 4: 1.0, 5: 1.0, 6: 0.75, 7: 0.9, 8: 1.0, 9: 1.0, 10: 1.0,
                     11: 1.05, 12: 0.7}  # fmt: skip
# Chronic payers catch up with their bonus: arrears paid in one go between these days.
PRIMA_WINDOWS = {6: (15, 30), 12: (15, 23)}
PRIMA_CATCH_UP = 0.45  # chance a chronic payer with arrears pays them all at the next prima

# Payment channels: (method, weight, source kind)
METHODS = (
    ("pse", 34, "bank"), ("bank_transfer", 18, "bank"), ("direct_debit", 14, "bank"), ("card", 10, "bank"),
    ("cash", 13, "cash"), ("wallet", 7, "bank"), ("cheque", 2, "bank"), ("payroll", 2, "bank"),
)  # fmt: skip
UNIDENTIFIED_SHARE = 0.012  # bank lines with no account id (only a reference or the payer's name)
UNKNOWN_ACCOUNT_SHARE = 0.004  # bank lines naming an account id nobody has
OVERPAY_SHARE = 0.02
CHEQUE_BOUNCE = 0.12
CHARGEBACK = 0.006
ADJUSTMENT_SHARE = 0.012
CONSENT = {"email": 0.82, "sms": 0.86, "whatsapp": 0.62, "voice": 0.7, "letter": 0.5}
CONSENT_CHANGE_SHARE = 0.03  # customers who change a consent during the period (habeas data)
LATE_JOINERS = 0.2  # accounts opened during the period instead of before it
