"""`/v1/jobs/{id}/document` and `/sign`: a completed job's note, corrected, signed and amended.

Every change is a new version (`core.document_store`), made by the caller's key (and the `author` it
names); another key's job is a 404, as everywhere.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import DocumentStoreDep, TenantDep
from api.errors import error_responses
from api.schemas import DocumentPublic, DocumentRevision, DocumentSignature, DocumentVersionPublic

router = APIRouter(prefix="/v1/jobs", tags=["documents"])


@router.get("/{job_id}/document", response_model=DocumentPublic, responses=error_responses(401, 404, 409, 429))
def read_document(job_id: str, documents: DocumentStoreDep, tenant: TenantDep) -> DocumentPublic:
    """The note of a completed job: its current version, every version and the audit trail."""
    return DocumentPublic.of(documents.get(job_id, tenant))


@router.post("/{job_id}/document", response_model=DocumentVersionPublic,
             responses=error_responses(400, 401, 404, 409, 411, 413, 422, 429))
def revise_document(job_id: str, revision: DocumentRevision, documents: DocumentStoreDep,
                          tenant: TenantDep) -> DocumentVersionPublic:
    """Store a new version: a correction (preliminary) before signature, an amendment (signed by its
    author, replacing the signed version) after it. The current text again stores nothing."""
    version = documents.revise(job_id, revision.text, tenant, revision.author, revision.base_version,
                               revision.reason)
    return DocumentVersionPublic.of(version)


@router.post("/{job_id}/sign", response_model=DocumentVersionPublic,
             responses=error_responses(400, 401, 404, 409, 411, 413, 422, 429))
def sign_document(job_id: str, signature: DocumentSignature, documents: DocumentStoreDep,
                        tenant: TenantDep) -> DocumentVersionPublic:
    """Sign the current version, making it final; a signed note is amended, not signed again (409)."""
    version = documents.sign(job_id, tenant, signature.author, signature.base_version)
    return DocumentVersionPublic.of(version)
