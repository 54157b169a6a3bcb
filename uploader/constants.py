"""The service's numbers, each with where it comes from.

Name patterns and lengths are copied from botocore's CodeArtifact model
(`botocore/data/codeartifact/2018-09-22/service-2.json`); a unit test checks
that they still match the model botocore ships, so a model change fails CI.
Quotas are AWS's published defaults ("Quotas in AWS CodeArtifact", per Region).
"""

from typing import Final

SERVICE_NAME: Final = "codeartifact"
SIGNING_NAME: Final = "codeartifact"
GENERIC_FORMAT: Final = "generic"
DEFAULT_ACCOUNT_ID: Final = "111122223333"
DEFAULT_REGION: Final = "us-east-1"

# --- Name rules (service-2.json shapes) ----------------------------------------------
DOMAIN_PATTERN: Final = r"[a-z][a-z0-9\-]{0,48}[a-z0-9]"  # DomainName
DOMAIN_MIN_LEN: Final = 2
DOMAIN_MAX_LEN: Final = 50
REPOSITORY_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._\-]{1,99}"  # RepositoryName
REPOSITORY_MIN_LEN: Final = 2
REPOSITORY_MAX_LEN: Final = 100
PACKAGE_PATTERN: Final = r"[^#/\s]+"  # PackageName, PackageNamespace, PackageVersion
PACKAGE_MIN_LEN: Final = 1
PACKAGE_MAX_LEN: Final = 255
ASSET_NAME_MIN_LEN: Final = 1  # AssetName: pattern \P{C}+ (no control/format/unassigned)
ASSET_NAME_MAX_LEN: Final = 255
ACCOUNT_ID_PATTERN: Final = r"[0-9]{12}"  # AccountId
SHA256_PATTERN: Final = r"[0-9a-f]{64}"  # HashValue as sent in x-amz-content-sha256

# --- Limits ----------------------------------------------------------------------------
MAX_ASSETS_PER_VERSION: Final = 150  # "Assets per package version", not adjustable
MAX_ASSET_SIZE_BYTES: Final = 5 * 1000**3  # "Asset file size maximum": 5 GB
MAX_VERSIONS_PER_STATUS_UPDATE: Final = 100  # UpdatePackageVersionsStatus: versions max 100
MAX_RESULTS_LIMIT: Final = 1000  # max-results upper bound on every List* call
DEFAULT_PAGE_SIZE: Final = 100  # what the service returns when max-results is absent

# --- Request-rate quotas (requests per second, per account, per Region) -----------------
PUBLISH_RATE_PER_S: Final = 10.0  # PublishPackageVersion
LIST_ASSETS_RATE_PER_S: Final = 200.0  # ListPackageVersionAssets
LIST_VERSIONS_RATE_PER_S: Final = 200.0  # ListPackageVersions
GET_ASSET_RATE_PER_S: Final = 50.0  # GetPackageVersionAsset
ACCOUNT_WRITE_RATE_PER_S: Final = 100.0  # "write requests from a single AWS account"

# --- Our bounds on what an endpoint may ask of us (issue 15: a hostile endpoint) ------------
# CodeArtifact's replies are kilobytes: a page of 1,000 versions (the largest page,
# MAX_RESULTS_LIMIT) at 255-character names is well under 1 MiB. A reply longer than
# this is not read on; the attempt fails (and is retried, as a garbled reply would be).
MAX_REPLY_BYTES: Final = 8 * 1024 * 1024
# A listing ends at its first repeated nextToken, and at this many pages in any case:
# 1,000,000 items at MAX_RESULTS_LIMIT per page, far beyond anything we list (a version
# has at most MAX_ASSETS_PER_VERSION assets; a package's versions are listed only up to
# service_view.MAX_LISTED_VERSIONS).
MAX_LIST_PAGES: Final = 1000
# The longest wait a server's Retry-After can impose on one retry (botocore never reads
# the header; AWS documents no maximum). Past it we wait this long, and the attempt
# counts against --max-attempts as any other, so a server that only ever throttles
# ends the run's retries of that request after max-attempts * this at most.
MAX_RETRY_AFTER_S: Final = 60.0
MAX_ATTEMPTS: Final = 8  # attempts per request, the first included (`--max-attempts`)
# The lowest `--rate`: one publish every 100 s. Below it a run never ends in practice
# (`--rate 1e-300` waits longer than the universe's age for its second publish), and the
# throttler's sliding window cannot express it anyway. Not an AWS number: ours.
MIN_RATE_PER_S: Final = 0.01
