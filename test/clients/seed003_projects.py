"""A team's own soft-delete code for SQLAlchemy, as its documentation gives it, run unchanged against
the engine's projects table (its `key` column is the example's `name`): the SoftDeleteMixin
(deleted_at, soft_delete(), restore(), is_deleted), the query patterns (active, deleted, all, counts,
ordered by deletion date), the unit tests test_soft_delete and test_restore, and the logic of the
list, create, delete and restore endpoints as plain functions (no web framework).

argv[1]: JSON {"url": ..., "workspaceId": ..., "mode": "restorer" | "app"}.
  restorer: the code filters deleted rows itself, so it runs as the role that may see them
            (SET ROLE deletion_restorer on every connection).
  app:      the plain application role: soft_delete() and commit must succeed, after which the row is
            no longer visible to it (which is right), and the restore endpoint finds nothing.
Prints JSON: check name -> {"passed": bool, "error": ...}."""
import json
import sys
import traceback
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Column, DateTime, Text, create_engine, event, text
from sqlalchemy.orm import Session, declarative_base

from pyharness import describe, sqlalchemy_url

ARGS = json.loads(sys.argv[1])
WORKSPACE = ARGS['workspaceId']
Base = declarative_base()


# ---- the team's code, as written --------------------------------------------------------------

class SoftDeleteMixin:
    """Soft delete: deleted_at marks when the record was soft-deleted (indexed)."""
    deleted_at = Column(DateTime(timezone=True), nullable=True, index=True)

    def soft_delete(self):
        """Mark record as deleted."""
        self.deleted_at = datetime.now(UTC)

    def restore(self):
        """Restore a soft-deleted record."""
        self.deleted_at = None

    @property
    def is_deleted(self):
        return self.deleted_at is not None


class Project(SoftDeleteMixin, Base):
    __tablename__ = 'projects'
    id = Column(BigInteger, primary_key=True)
    # The example's projects belong to a workspace; the team's model has no such column, so the
    # suite gives it a default (the fixture's workspace) and the team's code never mentions it.
    workspace_id = Column(BigInteger, nullable=False, default=WORKSPACE)
    name = Column(Text, nullable=False)

    @classmethod
    def query_active(cls, session):
        """Query only non-deleted projects."""
        return session.query(cls).filter(cls.deleted_at == None)  # noqa: E711


class HTTPException(Exception):
    def __init__(self, status_code, detail):
        super().__init__(f'{status_code}: {detail}')
        self.status_code = status_code
        self.detail = detail


def list_projects(include_deleted=False, db=None):
    query = db.query(Project)
    if not include_deleted:
        query = query.filter(Project.deleted_at == None)  # noqa: E711
    return query.all()


def create_project(data, db):
    project = Project(name=data['key'])
    db.add(project)
    db.commit()
    return project


def delete_project(project_id, db):
    project = db.query(Project).filter(
        Project.id == project_id,
        Project.deleted_at == None  # Ensure not already deleted  # noqa: E711
    ).first()
    if not project:
        raise HTTPException(status_code=404, detail="Project not found")
    project.soft_delete()
    db.commit()
    return {"message": "Project deleted successfully"}


def restore_project(project_id, db):
    project = db.query(Project).filter(
        Project.id == project_id,
        Project.deleted_at != None  # Must be soft-deleted  # noqa: E711
    ).first()
    if not project:
        raise HTTPException(status_code=404, detail="Deleted project not found")
    project.restore()
    db.commit()
    return {"message": "Project restored successfully"}


# ---- the team's tests, as written (key -> name) ---------------------------------------------------

def test_soft_delete(db):
    """Test soft delete functionality."""
    project = Project(name="test")
    db.add(project)
    db.commit()

    # Verify not deleted
    assert not project.is_deleted
    assert project.deleted_at is None

    # Soft delete
    project.soft_delete()
    db.commit()

    # Verify deleted
    assert project.is_deleted
    assert project.deleted_at is not None

    # Verify excluded from active queries
    active = db.query(Project).filter(Project.deleted_at == None).all()  # noqa: E711
    assert project not in active


def test_restore(db):
    """Test restoring soft-deleted record."""
    project = Project(name="test")
    db.add(project)
    db.commit()

    # Soft delete
    project.soft_delete()
    db.commit()
    assert project.is_deleted

    # Restore
    project.restore()
    db.commit()
    assert not project.is_deleted
    assert project.deleted_at is None


def test_query_patterns(db):
    """The documented queries: active, deleted, all, counts, by key, recently deleted, the helper."""
    before_active = db.query(Project).filter(Project.deleted_at == None).count()  # noqa: E711
    before_deleted = db.query(Project).filter(Project.deleted_at != None).count()  # noqa: E711
    keep, drop = Project(name="my-project"), Project(name="old-project")
    db.add_all([keep, drop])
    db.commit()
    drop.soft_delete()
    db.commit()

    active = db.query(Project).filter(Project.deleted_at == None).all()  # noqa: E711
    deleted = db.query(Project).filter(Project.deleted_at != None).all()  # noqa: E711
    all_records = db.query(Project).all()
    assert keep in active and drop not in active
    assert drop in deleted and keep not in deleted
    assert keep in all_records and drop in all_records

    active_count = db.query(Project).filter(Project.deleted_at == None).count()  # noqa: E711
    deleted_count = db.query(Project).filter(Project.deleted_at != None).count()  # noqa: E711
    assert active_count == before_active + 1
    assert deleted_count == before_deleted + 1
    assert len(all_records) == active_count + deleted_count

    project = db.query(Project).filter(Project.name == "my-project", Project.deleted_at == None).first()  # noqa: E711
    assert project is keep

    recently_deleted = db.query(Project).filter(
        Project.deleted_at != None  # noqa: E711
    ).order_by(Project.deleted_at.desc()).limit(10).all()
    assert recently_deleted[0] is drop
    assert all(a.deleted_at >= b.deleted_at for a, b in zip(recently_deleted, recently_deleted[1:]))

    assert keep in Project.query_active(db).all() and drop not in Project.query_active(db).all()

    # Troubleshooting: a record that does not appear is soft-deleted.
    found = db.query(Project).filter(Project.name == "old-project").first()
    assert found is not None and found.is_deleted

    # Monitoring: the deletion rate of the last 24 hours.
    recent = db.query(Project).filter(Project.deleted_at > datetime.now(UTC) - timedelta(hours=24)).count()
    assert recent >= 1

    # Monitoring in SQL: active, deleted, total.
    counts = db.execute(text(
        "SELECT COUNT(*) FILTER (WHERE deleted_at IS NULL) AS active, "
        "COUNT(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted, COUNT(*) AS total FROM projects")).one()
    assert (counts.active, counts.deleted, counts.total) == (active_count, deleted_count, active_count + deleted_count)


def test_list_excludes_deleted(db):
    """The integration test, with the endpoints as functions: list hides what delete removed."""
    create_project({"key": "active", "name": "Active"}, db)
    create_project({"key": "deleted", "name": "Deleted"}, db)
    project = list_projects(db=db)[1]
    delete_project(project.id, db)

    response = list_projects(db=db)
    assert len(response) == 1
    assert response[0].name == "active"


def test_endpoints_include_deleted_and_restore(db):
    """include_deleted shows the deleted project; restore brings it back; a second restore is a 404."""
    deleted = [p for p in list_projects(include_deleted=True, db=db) if p.is_deleted]
    assert [p.name for p in deleted] == ["deleted"]
    assert restore_project(deleted[0].id, db) == {"message": "Project restored successfully"}
    assert sorted(p.name for p in list_projects(db=db)) == ["active", "deleted"]
    try:
        restore_project(deleted[0].id, db)
        raise AssertionError('restoring an active project did not 404')
    except HTTPException as e:
        assert e.status_code == 404


# ---- the plain application role ---------------------------------------------------------------

def app_soft_delete_commits(db):
    """soft_delete() and commit succeed; the row is then hidden from the application role."""
    project = Project(name="app-deletes")
    db.add(project)
    db.commit()
    pid = project.id
    project.soft_delete()
    db.commit()
    db.expunge_all()
    assert db.query(Project).filter(Project.id == pid).first() is None


def app_delete_endpoint(db):
    """The delete endpoint, as the application role."""
    project = create_project({"key": "app-endpoint"}, db)
    pid = project.id
    assert delete_project(pid, db) == {"message": "Project deleted successfully"}
    db.expunge_all()
    assert all(p.id != pid for p in list_projects(include_deleted=True, db=db))
    try:
        restore_project(pid, db)
        raise AssertionError('the application role found a deleted project to restore')
    except HTTPException as e:
        assert e.status_code == 404


CHECKS = {
    # The integration test counts every project in the database: it runs first, on an empty table.
    'restorer': [test_list_excludes_deleted, test_endpoints_include_deleted_and_restore, test_soft_delete, test_restore, test_query_patterns],
    'app': [app_soft_delete_commits, app_delete_endpoint],
}


def main():
    engine = create_engine(sqlalchemy_url(ARGS['url']), future=True)
    if ARGS['mode'] == 'restorer':
        @event.listens_for(engine, 'connect')
        def as_restorer(dbapi_connection, _record):
            with dbapi_connection.cursor() as cur:
                cur.execute('SET ROLE deletion_restorer')
            dbapi_connection.commit()
    out = {}
    for check in CHECKS[ARGS['mode']]:
        with Session(engine) as db:
            try:
                check(db)
                out[check.__name__] = {'passed': True}
            except Exception as e:  # noqa: BLE001 - every failure is an observation
                traceback.print_exc(file=sys.stderr)
                out[check.__name__] = {'passed': False, 'error': describe(e) if str(e) else {'code': None, 'name': type(e).__name__, 'message': traceback.format_exc().strip().splitlines()[-2].strip()}}
    engine.dispose()
    print(json.dumps(out))


if __name__ == '__main__':
    main()
