"""k-anonymity for advocates: a group spanning fewer than REPORT_MIN_EXPORTERS exporter
organisations is shown as suppressed, with no figures at all (not even its counts), so no
report can single out one exporter's trucks. Admins see everything; an exporter's reports
cover its own organisation only and need no suppression."""

from app.auth.principal import Principal
from app.organizations.models import Role


def must_suppress(principal: Principal, organizations: int, min_exporters: int) -> bool:
    return principal.role == Role.advocate and organizations < min_exporters
