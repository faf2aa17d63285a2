"""Attachments on events: upload (idempotent by content), list, fetch, withdraw.

An upload does its slow work outside the write transaction, in this order: the visibility
check (404 before a byte is decoded), the same-bytes check (a retry answers at once), the
decode and strip (images.prepare; 422 leaves nothing anywhere), the durable file write
(storage.put, fsynced), and only then the short write transaction that adds the row. So a
201 means the file and the row are both on disk, and a refusal leaves neither: a file
written for a row that then failed to commit is removed again, unless another upload of
the same bytes had stored it first (the file's lock makes "first" exact).

A download whose file is missing on disk (restored from a backup without its files, or
removed by hand) is a 410 problem and an error in the log, not a 500.
"""

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.db import utcnow, write_transaction
from app.errors import AppError, Conflict, NotFound
from app.evidence import images
from app.evidence.models import Attachment, AttachmentKind, MediaType
from app.evidence.repository import attachment_by_digest, visible_attachments, visible_event
from app.evidence.storage import AttachmentStore
from app.shipments.repository import lock_visible_shipment

logger = logging.getLogger(__name__)


class StoredFileMissing(AppError):
    status, title, slug = 410, "The stored file is missing", "stored-file-missing"


@dataclass(frozen=True)
class Uploaded:
    attachment: Attachment
    created: bool  # False: the same bytes were already attached to this event


def check_event(
    session: Session, *, principal: Principal, shipment_id: uuid.UUID, event_id: uuid.UUID
) -> None:
    """404 unless the principal may see the shipment and it has this event: asked before
    the upload's body is read, so a stranger cannot make the server take 8 MiB."""
    visible_event(session, principal, shipment_id, event_id)


def upload(
    session: Session,
    *,
    principal: Principal,
    store: AttachmentStore,
    shipment_id: uuid.UUID,
    event_id: uuid.UUID,
    kind: AttachmentKind,
    content_type: MediaType,
    data: bytes,
) -> Uploaded:
    received = images.sha256_hex(data)
    visible_event(session, principal, shipment_id, event_id)
    existing = attachment_by_digest(session, shipment_id, event_id, received)
    if existing is not None:
        return Uploaded(existing, created=False)
    prepared = images.prepare(content_type, data)
    # The file's lock from its write until its row is committed or the file removed: see
    # storage.py (a file shared with another event's upload is never removed from under it).
    with store.locked(images.sha256_hex(prepared.stored)):
        stored_sha256, new_file = store.put(prepared.stored)
        try:
            with write_transaction(session):
                # Serialises uploads to one shipment (PostgreSQL: FOR UPDATE on its row;
                # SQLite: the write lock), so two retries of one upload make one row.
                lock_visible_shipment(session, principal, shipment_id)
                existing = attachment_by_digest(session, shipment_id, event_id, received)
                if existing is not None:
                    return Uploaded(existing, created=False)
                attachment = Attachment(
                    shipment_id=shipment_id,
                    event_id=event_id,
                    kind=kind,
                    content_type=content_type,
                    sha256=received,
                    bytes=prepared.received_bytes,
                    stored_sha256=stored_sha256,
                    stored_bytes=len(prepared.stored),
                    width=prepared.width,
                    height=prepared.height,
                    captured_at=prepared.captured_at,
                    captured_lat=prepared.captured_lat,
                    captured_lon=prepared.captured_lon,
                    source=_source(principal),
                    created_by=principal.user_id,
                    created_at=utcnow(),
                    withdrawn=False,
                )
                session.add(attachment)
        except BaseException:
            if new_file:  # under the lock: no committed row refers to it
                store.remove(stored_sha256)
            raise
    return Uploaded(attachment, created=True)


def list_attachments(
    session: Session, *, principal: Principal, shipment_id: uuid.UUID, event_id: uuid.UUID
) -> list[Attachment]:
    visible_event(session, principal, shipment_id, event_id)
    stmt = (
        visible_attachments(principal)
        .where(Attachment.shipment_id == shipment_id, Attachment.event_id == event_id)
        .order_by(Attachment.created_at, Attachment.id)
    )
    return list(session.scalars(stmt))


def attachment_file(
    session: Session, *, principal: Principal, store: AttachmentStore, attachment_id: uuid.UUID
) -> tuple[Attachment, Path]:
    """The attachment and the path of the bytes served (withdrawn ones too: withdrawing
    takes an attachment out of the figures, not out of the record)."""
    attachment = _visible(session, principal, attachment_id)
    path = store.path_for(attachment.stored_sha256)
    if not path.is_file():
        logger.error(
            "attachment %s: its stored file %s is missing from ATTACHMENTS_DIR",
            attachment.id,
            attachment.stored_sha256,
        )
        raise StoredFileMissing(
            "This attachment is on record, but its file is missing from the server's "
            "storage (the operators will find it in the log).",
            attachment_id=str(attachment.id),
        )
    return attachment, path


def withdraw(
    session: Session, *, principal: Principal, attachment_id: uuid.UUID, reason: str
) -> Attachment:
    with write_transaction(session):
        attachment = session.scalar(
            visible_attachments(principal)
            .where(Attachment.id == attachment_id)
            .with_for_update(of=Attachment)
        )
        if attachment is None:
            raise NotFound("No such attachment.")
        if attachment.withdrawn:
            raise Conflict(
                "The attachment is already withdrawn.",
                withdrawn_reason=attachment.withdrawn_reason,
            )
        attachment.withdrawn = True
        attachment.withdrawn_reason = reason
        attachment.withdrawn_at = utcnow()
        attachment.withdrawn_by = principal.user_id
    return attachment


def _visible(session: Session, principal: Principal, attachment_id: uuid.UUID) -> Attachment:
    attachment = session.scalar(
        visible_attachments(principal).where(Attachment.id == attachment_id)
    )
    if attachment is None:
        raise NotFound("No such attachment.")
    return attachment


def _source(principal: Principal) -> str:
    if principal.kind == "driver":
        return "driver"
    return "admin" if principal.is_admin else "exporter"
