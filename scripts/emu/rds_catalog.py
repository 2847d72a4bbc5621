"""What RDS says about its own catalog — engine versions and certificate
authorities — which moto does not answer at all.

- `DescribeDBEngineVersions` (moto: unknown action) lists the versions RDS
  offers, filtered by `Engine`/`EngineVersion` (an exact version), each
  `available`. The table is the current majors' versions this stack can ask
  for: MySQL 8.0/8.4, MariaDB 10.11/11.4, Aurora MySQL 3.
- `DescribeCertificates` (moto: unknown action) lists RDS's CAs with their
  validity; `CertificateIdentifier` filters, an unknown one answers
  CertificateNotFound.
- An instance created with a major version only (`8.4`) runs that major's
  default minor version and reports it in full (`8.4.6`), as RDS does;
  moto echoed `8.4`.
- A new instance is signed by `rds-ca-rsa2048-g1`, RDS's default CA since
  January 2024 (moto answered an invented `rds-ca-default`), and reports its
  server certificate in `CertificateDetails` (CA, valid for a year: RDS
  rotates it).
"""
import datetime

from moto.core.responses import ActionResult
from moto.rds.exceptions import RDSClientError

ENGINE_VERSIONS = {
    "mysql": ["8.0.40", "8.0.41", "8.0.42", "8.4.4", "8.4.5", "8.4.6"],
    "mariadb": ["10.11.10", "10.11.11", "11.4.4", "11.4.5"],
    "aurora-mysql": ["8.0.mysql_aurora.3.08.0", "8.0.mysql_aurora.3.08.2", "8.0.mysql_aurora.3.09.0",
                     "8.0.mysql_aurora.3.10.0"],
}
FAMILY = {"mysql": "mysql", "mariadb": "mariadb", "aurora-mysql": "aurora-mysql"}
DEFAULT_CA = "rds-ca-rsa2048-g1"
CAS = {
    "rds-ca-rsa2048-g1": ("2021-05-25", "2061-05-25"),
    "rds-ca-rsa4096-g1": ("2021-05-25", "2121-05-25"),
    "rds-ca-ecc384-g1": ("2021-05-25", "2121-05-25"),
}


def _ts(day):
    return datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.timezone.utc)


def _family(engine, version):
    if engine == "aurora-mysql":
        return "aurora-mysql8.0"
    return FAMILY[engine] + ".".join(version.split(".")[:2])


class _CertificateNotFound(RDSClientError):
    def __init__(self, ident):
        super().__init__("CertificateNotFound", f"Certificate {ident} not found.")


def install():
    from moto.rds.models import DBInstance
    from moto.rds.responses import RDSResponse

    def describe_db_engine_versions(self):
        engine, version = self._get_param("Engine"), self._get_param("EngineVersion")
        out = []
        for eng, versions in ENGINE_VERSIONS.items():
            if engine and eng != engine:
                continue
            for v in versions:
                if version and v != version:
                    continue
                out.append({
                    "Engine": eng, "EngineVersion": v, "DBParameterGroupFamily": _family(eng, v),
                    "DBEngineDescription": eng, "DBEngineVersionDescription": f"{eng} {v}", "Status": "available",
                })
        return ActionResult({"DBEngineVersions": out})

    def describe_certificates(self):
        ident = self._get_param("CertificateIdentifier")
        if ident and ident not in CAS:
            raise _CertificateNotFound(ident)
        certs = [{
            "CertificateIdentifier": name, "CertificateType": "CA", "Thumbprint": name.replace("-", ""),
            "ValidFrom": _ts(start), "ValidTill": _ts(end), "CustomerOverride": False,
            "CertificateArn": f"arn:aws:rds:{self.region}::cert:{name}",
        } for name, (start, end) in CAS.items() if not ident or name == ident]
        return ActionResult({"Certificates": certs, "DefaultCertificateForNewLaunches": DEFAULT_CA})

    RDSResponse.describe_db_engine_versions = describe_db_engine_versions
    RDSResponse.describe_certificates = describe_certificates

    orig_init = DBInstance.__init__

    def init(self, *args, **kwargs):
        orig_init(self, *args, **kwargs)
        if getattr(self, "db_cluster_identifier", None) is None:  # a cluster member reports its cluster's
            offered = ENGINE_VERSIONS.get(self.engine or "", [])
            minors = [v for v in offered if v.startswith(f"{self.engine_version}.")]
            if self.engine_version not in offered and minors:
                self.engine_version = minors[-1]
        if self.ca_certificate_identifier in (None, "rds-ca-default"):
            self.ca_certificate_identifier = DEFAULT_CA
        year = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=365)
        self.certificate_details = {"CAIdentifier": self.ca_certificate_identifier, "ValidTill": year}

    DBInstance.__init__ = init
