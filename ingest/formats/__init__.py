"""Signal-logger export formats. Each module has ``sniff(header_line)`` and ``to_fields(table)``.

The rule, for every logger format (docs/INPUT.md): a serving-cell
measurement with a cell id and a signal reading shows that service worked
there and then, so it becomes an "all good" sample (kind ``ok``); a serving
measurement without a cell or without any signal becomes ``no_service``.
Neighbour-cell rows say nothing about the phone's own service and are skipped
(they keep their record numbers, so errors still point into the file).
"""

from ingest.formats import opencellid, towercollector

LOGGER_FORMATS = {"towercollector": towercollector, "opencellid": opencellid}
