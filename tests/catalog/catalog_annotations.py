"""Annotations the catalog's session store holds (the fluorometer's stream page timeline)."""

from __future__ import annotations

from stream_engine import demo

#: Unix ms of 2019-05-05T00:00Z, 2019-05-08T12:00Z, 2019-05-22T00:00Z, 2018-03-01T00:00Z, 2018-03-02T00:00Z.
MAY_5, MAY_8_NOON, MAY_22, MARCH_2018, MARCH_2_2018 = (
    1557014400000, 1557316800000, 1558483200000, 1519862400000, 1519948800000)
#: The fluorometer's annotations (the stream page's timeline): an exclusion of one parameter, an
#: open-ended note, and one before the stream's data.
FLUOROMETER_ANNOTATIONS = [
    {"subsite": demo.FLUOROMETER.subsite, "node": demo.FLUOROMETER.node, "sensor": demo.FLUOROMETER.sensor,
     "method": None, "stream": demo.FLUOROMETER.stream, "beginDT": MAY_5, "endDT": MAY_8_NOON,
     "parameters": [1141], "exclusionFlag": True, "qcFlag": "fail", "annotation": "chlorophyll channel fouled",
     "source": "ops@example.org"},
    {"subsite": demo.FLUOROMETER.subsite, "node": demo.FLUOROMETER.node, "sensor": demo.FLUOROMETER.sensor,
     "method": None, "stream": demo.FLUOROMETER.stream, "beginDT": MAY_22, "endDT": None, "parameters": [],
     "exclusionFlag": False, "qcFlag": "suspect", "annotation": "biofouling <suspected> & growing"},
    {"subsite": demo.FLUOROMETER.subsite, "node": demo.FLUOROMETER.node, "sensor": demo.FLUOROMETER.sensor,
     "method": None, "stream": demo.FLUOROMETER.stream, "beginDT": MARCH_2018, "endDT": MARCH_2_2018,
     "parameters": [], "exclusionFlag": False, "qcFlag": None, "annotation": "bench test"},
]
