"""SQLAlchemy (Debian's 1.4, 2.0-style ORM calls) through psycopg2, as the application role: the
models an application declares (relationships with passive_deletes, so the database does the
cascades), then each scenario through the ORM: Session.delete, delete().returning(), attribute
changes flushed on commit (row counts checked), insert().on_conflict_do_update(), a lazy load."""
from datetime import datetime, timezone

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, Text, create_engine, delete, inspect, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, declarative_base, relationship

from pyharness import UPSERTED_NAME, context, emit, observe, sqlalchemy_url

Base = declarative_base()


class Project(Base):
    __tablename__ = 'projects'
    id = Column(BigInteger, primary_key=True)
    workspace_id = Column(BigInteger, nullable=False)
    name = Column(Text, nullable=False)
    deleted_at = Column(DateTime(timezone=True))
    issues = relationship('Issue', back_populates='project', passive_deletes=True)


class User(Base):
    __tablename__ = 'users'
    id = Column(BigInteger, primary_key=True)
    email = Column(Text, nullable=False, unique=True)
    name = Column(Text, nullable=False)


class Issue(Base):
    __tablename__ = 'issues'
    id = Column(BigInteger, primary_key=True)
    project_id = Column(BigInteger, ForeignKey('projects.id', ondelete='SET NULL'))
    title = Column(Text, nullable=False)
    project = relationship('Project', back_populates='issues')


class Seat(Base):
    __tablename__ = 'seats'
    id = Column(BigInteger, primary_key=True)
    seat_no = Column(Integer, nullable=False)
    holder = Column(Text, nullable=False)
    deleted_at = Column(DateTime(timezone=True))


class IssueLink(Base):
    __tablename__ = 'issue_links'
    id = Column(BigInteger, primary_key=True)
    issue_id = Column(BigInteger, nullable=False)
    url = Column(Text, nullable=False)


class WikiPage(Base):
    """An archived table's page, with its revisions as the database's foreign key says (CASCADE),
    declared as docs/clients.md recommends: passive_deletes=True, so the DELETE reaches the database
    and the database cascades, as one operation."""
    __tablename__ = 'wiki_pages'
    id = Column(BigInteger, primary_key=True)
    workspace_id = Column(BigInteger, nullable=False)
    slug = Column(Text, nullable=False)
    title = Column(Text, nullable=False)
    revisions = relationship('WikiPageRevision', passive_deletes=True)


class WikiPageRevision(Base):
    __tablename__ = 'wiki_page_revisions'
    id = Column(BigInteger, primary_key=True)
    page_id = Column(BigInteger, ForeignKey('wiki_pages.id', ondelete='CASCADE'), nullable=False)
    body = Column(Text, nullable=False)


# The same tables declared with SQLAlchemy's defaults (no passive_deletes): on Session.delete the
# unit of work loads the children and sets their foreign key to NULL itself, before the parent's
# DELETE, as if the database could not.
DefaultBase = declarative_base()


class DefaultWikiPage(DefaultBase):
    __tablename__ = 'wiki_pages'
    id = Column(BigInteger, primary_key=True)
    revisions = relationship('DefaultWikiPageRevision')


class DefaultWikiPageRevision(DefaultBase):
    __tablename__ = 'wiki_page_revisions'
    id = Column(BigInteger, primary_key=True)
    page_id = Column(BigInteger, ForeignKey('wiki_pages.id', ondelete='CASCADE'), nullable=False)


def main():
    ctx = context()
    f = ctx['fixture']
    engine = create_engine(sqlalchemy_url(ctx['appUrl']), future=True)

    def delete_entity():
        with Session(engine) as s:
            p = s.get(Project, f['projects']['deleteEntity'])
            if p is None:
                raise LookupError('the project to delete is not visible')
            s.delete(p)
            s.commit()
        return {}

    def delete_returning():
        with Session(engine) as s:
            ids = [r[0] for r in s.execute(delete(Project).where(Project.id == f['projects']['deleteReturning']).returning(Project.id))]
            s.commit()
        return {'returned': ids}

    def soft_delete_update():
        with Session(engine) as s:
            p = s.get(Project, f['projects']['softDeleteUpdate'])
            p.deleted_at = datetime.now(timezone.utc)
            s.commit()
        return {}

    def restore():
        with Session(engine) as s, s.begin():
            s.execute(text('SET LOCAL ROLE deletion_restorer'))
            p = s.execute(select(Project).where(Project.id == f['projects']['restore'], Project.deleted_at.isnot(None))).scalar_one_or_none()
            if p is None:
                raise LookupError('the deleted project is not visible to deletion_restorer')
            p.deleted_at = None
        return {}

    def upsert(email, on_constraint=False):
        """ON CONFLICT (email), or ON CONFLICT ON CONSTRAINT users_email_key (the constraint's own name)."""
        def work():
            with Session(engine) as s:
                stmt = insert(User).values(email=email, name=UPSERTED_NAME)
                target = {'constraint': 'users_email_key'} if on_constraint else {'index_elements': [User.email]}
                stmt = stmt.on_conflict_do_update(**target, set_={'name': stmt.excluded.name}).returning(User.id)
                ids = [r[0] for r in s.execute(stmt)]
                s.commit()
            out = {'returned': ids, 'id': ids[0] if ids else None}
            if on_constraint:
                out['note'] = "on_conflict_do_update(constraint='users_email_key'): ON CONFLICT ON CONSTRAINT"
            return out
        return work

    def recreate():
        with Session(engine) as s:
            u = User(email=f['emails']['recreate'], name='Recreated')
            s.add(u)
            s.commit()
            return {'id': u.id}

    def upsert_partial_index():
        with Session(engine) as s:
            for seat_no in (f['seats']['fresh'], f['seats']['active'], f['seats']['held']):
                stmt = insert(Seat).values(seat_no=seat_no, holder=UPSERTED_NAME)
                s.execute(stmt.on_conflict_do_update(index_elements=[Seat.seat_no], index_where=Seat.deleted_at.is_(None), set_={'holder': stmt.excluded.holder}))
            s.commit()
        return {'note': 'on_conflict_do_update(index_elements=[...], index_where=T.deleted_at.is_(None), set_=...)'}

    def reflect_unique_key():
        insp = inspect(engine)
        uniques = [u['column_names'] for u in insp.get_unique_constraints('users')]
        indexes = [i['column_names'] for i in insp.get_indexes('users') if i['unique'] and not i.get('dialect_options', {}).get('postgresql_where')]
        return {'reflectsUnique': ['email'] in uniques or ['email'] in indexes}

    def load_child():
        with Session(engine) as s:
            issue = s.get(Issue, f['childIssueId'])
            if issue is None:
                raise LookupError('the child issue is not visible')
            return {'parentLoaded': issue.project is not None}

    def hard_delete():
        with Session(engine) as s:
            link = s.get(IssueLink, f['linkId'])
            s.delete(link)
            s.commit()
        return {}

    def archive_delete_entity():
        with Session(engine) as s:
            page = s.get(WikiPage, f['pages']['deleteEntity'])
            if page is None:
                raise LookupError('the page to delete is not visible')
            s.delete(page)
            s.commit()
        return {}

    def archive_delete_returning():
        with Session(engine) as s:
            ids = [r[0] for r in s.execute(delete(WikiPage).where(WikiPage.id == f['pages']['deleteReturning']).returning(WikiPage.id))]
            s.commit()
        return {'returned': ids}

    def cascade(model, page_id, note):
        def work():
            with Session(engine) as s:
                page = s.get(model, page_id)
                if page is None:
                    raise LookupError('the page to delete is not visible')
                s.delete(page)
                s.commit()
            return {'note': note}
        return work

    emit({
        'delete_entity': observe(delete_entity),
        'delete_returning': observe(delete_returning),
        'soft_delete_update': observe(soft_delete_update),
        'restore_granted_role': observe(restore),
        'upsert_new_key': observe(upsert(f['emails']['fresh'])),
        'upsert_active_duplicate': observe(upsert(f['emails']['active'], on_constraint=True)),
        'upsert_deleted_key': observe(upsert(f['emails']['held'])),
        'recreate_deleted_unique': observe(recreate),
        'upsert_partial_index': observe(upsert_partial_index),
        'load_child_of_deleted_parent': observe(load_child),
        'reflect_unique_key': observe(reflect_unique_key),
        'hard_delete': observe(hard_delete),
        'archive_delete_entity': observe(archive_delete_entity),
        'archive_delete_returning': observe(archive_delete_returning),
        'orm_cascade_default': observe(cascade(DefaultWikiPage, f['pages']['cascadeDefault'], 'relationship() without passive_deletes')),
        'orm_cascade_recommended': observe(cascade(WikiPage, f['pages']['cascadeRecommended'], 'relationship(..., passive_deletes=True)')),
    })
    engine.dispose()


if __name__ == '__main__':
    main()
