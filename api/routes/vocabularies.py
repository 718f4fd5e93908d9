"""`/v1/vocabularies`: a key's custom vocabularies, referenced by id when submitting jobs."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import TenantDep, VocabulariesDep
from api.errors import error_responses
from core.vocabulary_store import CustomVocabulary, VocabularyCreate, VocabularyList

router = APIRouter(prefix="/v1/vocabularies", tags=["vocabularies"])



@router.post("", status_code=201, response_model=CustomVocabulary,
             responses=error_responses(400, 401, 411, 413, 422, 429, 503))
def create_vocabulary(body: VocabularyCreate, store: VocabulariesDep, tenant: TenantDep) -> CustomVocabulary:
    """Store phrases (with optional `sounds_like` and `display_as`) to use by id as `vocabulary_id`."""
    return store.create(tenant, body)


@router.get("", response_model=VocabularyList, responses=error_responses(401, 429))
def list_vocabularies(store: VocabulariesDep, tenant: TenantDep) -> VocabularyList:
    """This key's vocabularies, oldest first."""
    return VocabularyList(vocabularies=store.list_owned(tenant))


@router.get("/{vocabulary_id}", response_model=CustomVocabulary, responses=error_responses(401, 404, 429))
def read_vocabulary(vocabulary_id: str, store: VocabulariesDep, tenant: TenantDep) -> CustomVocabulary:
    return store.get(tenant, vocabulary_id)


@router.delete("/{vocabulary_id}", status_code=204, responses=error_responses(401, 404, 429))
def delete_vocabulary(vocabulary_id: str, store: VocabulariesDep, tenant: TenantDep) -> Response:
    """Delete it; jobs already submitted keep the phrases they were submitted with."""
    store.delete(tenant, vocabulary_id)
    return Response(status_code=204)
