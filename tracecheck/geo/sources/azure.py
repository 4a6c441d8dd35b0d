"""Azure Service Tags (``ServiceTags_Public_YYYYMMDD.json``, download id 56519).

Schema: ``{changeNumber, cloud, values: [{name, id, properties: {changeNumber, region,
regionId, platform, systemService, addressPrefixes, networkFeatures}}]}``.  Regional tags
(``AzureCloud.westeurope``, ``Storage.WestEurope``) carry ``properties.region``; the others
(``AzureCloud``, ``AzureFrontDoor.Frontend``) say only "this is Azure" and are kept as
provider-only evidence.  The file has no date inside; Microsoft puts it in the file name.
"""

from __future__ import annotations

from pathlib import Path

from tracecheck.geo.sources.interface import (
    PrefixRecord, RangeFile, filename_date, load_json, mtime_date,
    read_bytes, require, schema_error, sha256_hex,
)
from tracecheck.vocabulary import SourceInfo, SourceKind

KIND = "azure"
NAME = "azure-service-tags"
WHAT = "an Azure Service Tags JSON file"
# The file's URL changes every week; the download page links the current one.
OFFICIAL_PAGE = "https://www.microsoft.com/en-us/download/details.aspx?id=56519"
FILE_LINK_PATTERN = r"https?://[^\"'<>\s]+/ServiceTags_Public_\d{8}\.json"


def parse(path: Path) -> RangeFile:
    data = read_bytes(path)
    doc = load_json(path, data, WHAT)
    require(isinstance(doc, dict) and isinstance(doc.get("values"), list), path, WHAT, "no 'values' list")
    records = []
    try:
        for tag in doc["values"]:
            props = tag["properties"]
            region = (props.get("region") or "").lower()
            service = props.get("systemService") or tag["name"].split(".")[0]
            records.extend(
                PrefixRecord(network=network, provider="azure", service=service, region=region)
                for network in props["addressPrefixes"]
            )
    except (KeyError, TypeError, AttributeError) as err:
        raise schema_error(path, WHAT, err) from None
    date = filename_date(path)
    basis = "filename" if date else "mtime"
    info = SourceInfo(name=NAME, kind=KIND, version=str(doc.get("changeNumber", "")),
                      date=date or mtime_date(path), sha256=sha256_hex(data), prefixes=len(records))
    label = f"Azure Service Tags ({doc.get('cloud', 'Public')}) changeNumber {doc.get('changeNumber', '?')}"
    return RangeFile(info=info, label=label, kind=SourceKind.PROVIDER, prefixes=records, date_basis=basis)
