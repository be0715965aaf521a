"""Evidence for a reporter: their own reports beside others', "phone or network?", the dossier."""

from evidence.compare import Comparison, Line, Verdict, compare_nearby, phone_or_network
from evidence.dossier import dossier_html, my_reports_csv, summary_ko
from evidence.mine import TIME_BUCKETS, failures_of, my_reports, reporter_of
from evidence.outages import overlapping_outages

__all__ = [
    "TIME_BUCKETS", "Comparison", "Line", "Verdict", "compare_nearby", "dossier_html", "failures_of",
    "my_reports", "my_reports_csv", "overlapping_outages", "phone_or_network", "reporter_of", "summary_ko",
]
