"""`/v1/vocabularies`: a key's custom vocabularies, referenced by id when submitting jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from api.deps import OwnerDep, RedisDep, SettingsDep
from core.jobs import ERROR_DESCRIPTIONS, ErrorBody
from core.vocabulary_store import CustomVocabulary, VocabularyCreate, VocabularyList, VocabularyStore

router = APIRouter(prefix="/v1/vocabularies", tags=["vocabularies"])


def _vocabularies(redis: RedisDep, settings: SettingsDep) -> VocabularyStore:
    return VocabularyStore.for_settings(redis, settings)


VocabulariesDep = Annotated[VocabularyStore, Depends(_vocabularies)]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


@router.post("", status_code=201, response_model=CustomVocabulary, responses=_errors(400, 401, 411, 413, 422, 429, 503))
def create_vocabulary(body: VocabularyCreate, store: VocabulariesDep, owner: OwnerDep) -> CustomVocabulary:
    """Store phrases (with optional `sounds_like` and `display_as`) to use by id as `vocabulary_id`."""
    return store.create(owner, body)


@router.get("", response_model=VocabularyList, responses=_errors(401, 429))
def list_vocabularies(store: VocabulariesDep, owner: OwnerDep) -> VocabularyList:
    """This key's vocabularies, oldest first."""
    return VocabularyList(vocabularies=store.list_owned(owner))


@router.get("/{vocabulary_id}", response_model=CustomVocabulary, responses=_errors(401, 404, 429))
def read_vocabulary(vocabulary_id: str, store: VocabulariesDep, owner: OwnerDep) -> CustomVocabulary:
    return store.get(owner, vocabulary_id)


@router.delete("/{vocabulary_id}", status_code=204, responses=_errors(401, 404, 429))
def delete_vocabulary(vocabulary_id: str, store: VocabulariesDep, owner: OwnerDep) -> Response:
    """Delete it; jobs already submitted keep the phrases they were submitted with."""
    store.delete(owner, vocabulary_id)
    return Response(status_code=204)
