"""Step: fill a missing `display` from code systems that are free to use.

Only HL7 terminology (terminology.hl7.org, free under CC0) and the CARIN BB
code systems ("not copyrighted") are in the table. CPT (AMA), and other
licensed terminologies are never filled. A payer's own display is never
replaced.

Like the reference rewrite, this works on orjson's compact bytes: a Coding that
has exactly `system` and `code` (the shape payers send without a display) is
matched whole and gets a `display` appended.
"""

from __future__ import annotations

import re

import orjson

from fhircache.normalize.carin import _CURRENT

_T = "http://terminology.hl7.org/CodeSystem/"

DISPLAYS: dict[tuple[str, str], str] = {
    (_T + "claim-type", "institutional"): "Institutional",
    (_T + "claim-type", "oral"): "Oral",
    (_T + "claim-type", "pharmacy"): "Pharmacy",
    (_T + "claim-type", "professional"): "Professional",
    (_T + "claim-type", "vision"): "Vision",
    (_T + "processpriority", "stat"): "Immediate",
    (_T + "processpriority", "normal"): "Normal",
    (_T + "processpriority", "deferred"): "Deferred",
    (_T + "condition-clinical", "active"): "Active",
    (_T + "condition-clinical", "recurrence"): "Recurrence",
    (_T + "condition-clinical", "relapse"): "Relapse",
    (_T + "condition-clinical", "inactive"): "Inactive",
    (_T + "condition-clinical", "remission"): "Remission",
    (_T + "condition-clinical", "resolved"): "Resolved",
    (_T + "condition-ver-status", "unconfirmed"): "Unconfirmed",
    (_T + "condition-ver-status", "provisional"): "Provisional",
    (_T + "condition-ver-status", "differential"): "Differential",
    (_T + "condition-ver-status", "confirmed"): "Confirmed",
    (_T + "condition-ver-status", "refuted"): "Refuted",
    (_T + "condition-ver-status", "entered-in-error"): "Entered in Error",
    (_T + "subscriber-relationship", "child"): "Child",
    (_T + "subscriber-relationship", "parent"): "Parent",
    (_T + "subscriber-relationship", "spouse"): "Spouse",
    (_T + "subscriber-relationship", "common"): "Common Law Spouse",
    (_T + "subscriber-relationship", "other"): "Other",
    (_T + "subscriber-relationship", "self"): "Self",
    (_T + "subscriber-relationship", "injured"): "Injured Party",
    (_T + "ex-diagnosistype", "admitting"): "Admitting Diagnosis",
    (_T + "ex-diagnosistype", "clinical"): "Clinical Diagnosis",
    (_T + "ex-diagnosistype", "differential"): "Differential Diagnosis",
    (_T + "ex-diagnosistype", "discharge"): "Discharge Diagnosis",
    (_T + "ex-diagnosistype", "principal"): "Principal Diagnosis",
    (_T + "goal-achievement", "in-progress"): "In Progress",
    (_T + "goal-achievement", "improving"): "Improving",
    (_T + "goal-achievement", "worsening"): "Worsening",
    (_T + "goal-achievement", "no-change"): "No Change",
    (_T + "goal-achievement", "achieved"): "Achieved",
    (_T + "goal-achievement", "sustaining"): "Sustaining",
    (_T + "goal-achievement", "not-achieved"): "Not Achieved",
    (_T + "goal-achievement", "no-progress"): "No Progress",
    (_T + "goal-achievement", "not-attainable"): "Not Attainable",
    (_T + "v2-0203", "MB"): "Member Number",
    (_T + "v2-0203", "MR"): "Medical record number",
    (_T + "v2-0203", "PN"): "Person number",
    (_T + "v2-0203", "SN"): "Subscriber Number",
    (_T + "v2-0203", "NPI"): "National provider identifier",
    (_T + "v2-0203", "TAX"): "Tax ID number",
    (_T + "claiminformationcategory", "info"): "Information",
    (_T + "claiminformationcategory", "onset"): "Onset",
    (_T + "claiminformationcategory", "admissionsource"): "Admission Source",
    (_T + "claiminformationcategory", "discharge"): "Discharge",
    (_T + "claiminformationcategory", "prior"): "Prior Claim",
    (_T + "coverage-class", "group"): "Group",
    (_T + "coverage-class", "plan"): "Plan",
    ("http://hl7.org/fhir/us/core/CodeSystem/careplan-category", "assess-plan"): (
        "Assessment and Plan of Treatment"
    ),
    **{(system, code): display for system, code, display in _CURRENT.values()},
}

# Every system in the table starts with one of these; a long literal prefix
# lets the regex engine skip through the bytes instead of trying every "{".
_SYSTEMS = rb'http://(?:terminology\.hl7\.org|hl7\.org/fhir/us)/[^"\\]+'
_SYSTEM_CODE = re.compile(rb'\{"system":"(' + _SYSTEMS + rb')","code":"([^"\\]+)"\}')
_CODE_SYSTEM = re.compile(rb'\{"code":"([^"\\]+)","system":"(' + _SYSTEMS + rb')"\}')


def display_for(system: str, code: str) -> str | None:
    return DISPLAYS.get((system, code))


def fill_displays(data: bytes) -> bytes:
    """Append `display` to system+code Codings whose display the table knows."""

    def fill(match: re.Match[bytes], system: bytes, code: bytes) -> bytes:
        display = DISPLAYS.get((system.decode(), code.decode()))
        if display is None:
            return match.group(0)
        return match.group(0)[:-1] + b',"display":' + orjson.dumps(display) + b"}"

    data = _SYSTEM_CODE.sub(lambda m: fill(m, m.group(1), m.group(2)), data)
    return _CODE_SYSTEM.sub(lambda m: fill(m, m.group(2), m.group(1)), data)
