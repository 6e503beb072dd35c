"""``/v1/feed``: the city platform feeds sites and site-months, each insurer its own
claims; everyone who prices reads what is stored and every version of it.

Writes are upserts: the same row again changes nothing, a changed row becomes the next
version and the replaced one stays readable in ``…/history``. A bulk upload takes the
contract's files (CSV or Parquet) as multipart parts named after their tables, checks
all of them with the contract loader (what ``siterisk data validate`` runs) and stores
all or nothing; a broken file is answered 422 with the loader's problem report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final

from litestar import Controller, get, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import Body, FromPath, JSONBody, SkipValidation
from sqlmodel import Session

from models.contract import spec
from service.auth.guards import requires
from service.auth.principal import Principal, Role
from service.errors import NotFoundError, error_responses
from service.feed.schemas import ClaimsIn, FeedResult, HistoryOut, StoredSite
from service.feed.service import FeedService
from service.quotes.schemas import MonthIn, SiteIn

# A city's 720,000 site-months are about 120 MB of CSV; push sends bounded chunks.
BULK_MAX_BODY_BYTES: Final = 512 * 1024 * 1024
READERS: Final = (Role.platform, Role.insurer, Role.admin)

Upload = Annotated[dict[str, UploadFile], Body(media_type=RequestEncodingType.MULTI_PART)]
FEEDS_BY_ROLE: Final = "sites and site_months: platform keys; claims: insurer keys"


@dataclass
class _BulkOperation(Operation):
    """The upload documented as the service reads it: one file part per contract table,
    named after the table, and no other part (Litestar would document the handler's
    ``dict[str, UploadFile]`` as an array field ``files``)."""

    def __post_init__(self) -> None:
        parts = {
            table: Schema(
                type=OpenAPIType.STRING,
                format=OpenAPIFormat.BINARY,
                description=f"The contract's {table} table as a .csv or .parquet file.",
            )
            for table in spec.TABLES
        }
        self.request_body = RequestBody(
            required=True,
            description=f"One file part per table, named after it ({FEEDS_BY_ROLE}).",
            content={
                RequestEncodingType.MULTI_PART: OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        properties=dict(parts),
                        additional_properties=False,
                        min_properties=1,
                    )
                )
            },
        )


class FeedController(Controller):
    path = "/v1/feed"
    tags = ["feed"]  # noqa: RUF012

    @put(
        "/sites/{site_id:str}",
        status_code=200,
        sync_to_thread=True,
        guards=[requires(Role.platform)],
        summary="Store a site (platform keys)",
        responses=error_responses(401, 403, 409, 422, 429),
    )
    def put_site(
        self,
        site_id: FromPath[str],
        data: SkipValidation[JSONBody[SiteIn]],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> FeedResult:
        """A row of the contract's ``sites`` table. The same row again is ``unchanged``;
        a different one is the site's next version (the old one stays in its history)."""
        return FeedService(db_session).put_site(site_id, data, principal)

    @put(
        "/sites/{site_id:str}/months/{month:str}",
        status_code=200,
        sync_to_thread=True,
        guards=[requires(Role.platform)],
        summary="Store one month of a site's smart-site data (platform keys)",
        responses=error_responses(401, 403, 409, 422, 429),
    )
    def put_month(
        self,
        site_id: FromPath[str],
        month: FromPath[str],
        data: SkipValidation[JSONBody[MonthIn]],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> FeedResult:
        """A row of the contract's ``site_months`` table for a stored site. Idempotent
        on (site_id, month): a correction replaces the month and is kept as a version."""
        return FeedService(db_session).put_month(site_id, month, data, principal)

    @post(
        "/claims",
        status_code=200,
        sync_to_thread=True,
        guards=[requires(Role.insurer)],
        summary="Store the caller's claims (insurer keys)",
        responses=error_responses(401, 403, 409, 422, 429),
    )
    def add_claims(
        self,
        data: SkipValidation[JSONBody[ClaimsIn]],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> FeedResult:
        """Rows of the contract's ``claims`` table for stored sites, owned by the
        caller's insurer: only its own quotes ever use them, no one else reads them."""
        return FeedService(db_session).add_claims(data, principal)

    @post(
        "/bulk",
        status_code=200,
        sync_to_thread=True,
        guards=[requires(Role.platform, Role.insurer)],
        request_max_body_size=BULK_MAX_BODY_BYTES,
        summary="Upload contract files: all checked, then all stored or none",
        responses=error_responses(400, 401, 403, 409, 413, 422, 429),
        operation_class=_BulkOperation,
    )
    def bulk(
        self,
        data: Upload,
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> FeedResult:
        """Multipart file parts named ``sites``, ``site_months`` (platform keys) or
        ``claims`` (insurer keys), each ``.csv`` or ``.parquet`` in the contract's
        shape. Rows may name sites stored earlier. A 422 carries ``error.report``, the
        same problem report ``siterisk data validate`` prints."""
        files: dict[str, tuple[str | None, Any]] = {
            name: (upload.filename, upload.file) for name, upload in data.items()
        }
        return FeedService(db_session).bulk(files, principal)

    @get(
        "/sites/{site_id:str}",
        sync_to_thread=True,
        guards=[requires(*READERS)],
        summary="A stored site and the versions of its months",
        responses=error_responses(401, 403, 404, 429),
    )
    def stored_site(
        self, site_id: FromPath[str], db_session: NamedDependency[Session]
    ) -> StoredSite:
        return FeedService(db_session).stored_site(site_id)

    @get(
        "/sites/{site_id:str}/history",
        sync_to_thread=True,
        guards=[requires(*READERS)],
        summary="Every version of a stored site, newest first",
        responses=error_responses(401, 403, 404, 429),
    )
    def site_history(
        self, site_id: FromPath[str], db_session: NamedDependency[Session]
    ) -> HistoryOut:
        return FeedService(db_session).history("sites", {"site_id": site_id})

    @get(
        "/sites/{site_id:str}/months/{month:str}/history",
        sync_to_thread=True,
        guards=[requires(*READERS)],
        summary="Every version of a stored site-month, newest first",
        responses=error_responses(401, 403, 404, 429),
    )
    def month_history(
        self, site_id: FromPath[str], month: FromPath[str], db_session: NamedDependency[Session]
    ) -> HistoryOut:
        return FeedService(db_session).history("site_months", {"site_id": site_id, "month": month})

    @get(
        "/claims/{claim_id:str}/history",
        sync_to_thread=True,
        guards=[requires(Role.insurer)],
        summary="Every version of one of the caller's claims, newest first",
        responses=error_responses(401, 403, 404, 429),
    )
    def claim_history(
        self,
        claim_id: FromPath[str],
        principal: NamedDependency[Principal],
        db_session: NamedDependency[Session],
    ) -> HistoryOut:
        if not principal.insurer_id:  # pragma: no cover - insurer keys always carry one
            raise NotFoundError(f"no claim {claim_id!r}")
        key = {"insurer_id": principal.insurer_id, "claim_id": claim_id}
        return FeedService(db_session).history("claims", key)
