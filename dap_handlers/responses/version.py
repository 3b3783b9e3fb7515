"""The ``.ver`` response (JSON) and the ``.help`` text."""

from __future__ import annotations

import json

import stream_engine

DAP_PROTOCOL = "2.0"
SERVER = f"stream-engine/{stream_engine.__version__}"

HELP_TEXT = """\
Stream Engine OPeNDAP (DAP {protocol}) server, {server}

Append one of these extensions to a dataset URL:
  .dds    dataset descriptor (structure and sizes; honours a constraint)
  .das    dataset attributes
  .dods   binary data (DDS + XDR); what netCDF, xarray and pydap clients fetch
  .ascii  data as text (also .asc)
  .html   request form
  .info   DDS and DAS as a web page
  .ver    server and protocol version (JSON)
  .help   this text

Constraint expressions select variables and index ranges (stops are inclusive):
  dataset.dods?time[0:99],temperature[0:99]      first 100 values
  dataset.ascii?temperature[0:10:1000]           every tenth value of the first 1001
  dataset.dods?spectra[5][0:31]                  one row of a 2-D variable
Selections on time (&time>=2019-05-01&time<2019-05-02) pick a window by date;
server-side functions are not supported. DAP4: .dmr and .dap take
?dap4.ce=/time[0:99];/temperature[0:99] (.dap also dap4.checksum=true); .dsr lists them.
"""


def version_json() -> str:
    return json.dumps({"dap_protocol": DAP_PROTOCOL, "server": SERVER}, indent=2) + "\n"


def help_text() -> str:
    return HELP_TEXT.format(protocol=DAP_PROTOCOL, server=SERVER)
