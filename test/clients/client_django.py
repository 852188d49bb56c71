"""Django (Debian's 3.2) as the application role: unmanaged models of the product's tables with
foreign keys declared on_delete=DO_NOTHING and db_constraint=False (the database owns the cascades;
Django's collector would otherwise delete or unlink children of a row that is only soft-deleted),
then each scenario through the ORM: Model.delete, Model.save, update_or_create, select_related."""
import os
from urllib.parse import unquote, urlparse

import django
from django.conf import settings

from pyharness import UPSERTED_NAME, context, emit, observe

ctx = context()
url = urlparse(ctx['appUrl'])
settings.configure(
    DATABASES={'default': {
        'ENGINE': 'django.db.backends.postgresql', 'NAME': url.path.lstrip('/'), 'USER': unquote(url.username),
        'PASSWORD': unquote(url.password), 'HOST': url.hostname, 'PORT': url.port,
    }},
    INSTALLED_APPS=['django_clients'], USE_TZ=True, TIME_ZONE='UTC', DEFAULT_AUTO_FIELD='django.db.models.BigAutoField',
)
django.setup()

from django.db import connection, models, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402


class Project(models.Model):
    id = models.BigAutoField(primary_key=True)
    workspace_id = models.BigIntegerField()
    name = models.TextField()
    deleted_at = models.DateTimeField(null=True)

    class Meta:
        app_label = 'clients'
        db_table = 'projects'
        managed = False


class User(models.Model):
    id = models.BigAutoField(primary_key=True)
    email = models.TextField(unique=True)
    name = models.TextField()

    class Meta:
        app_label = 'clients'
        db_table = 'users'
        managed = False


class Issue(models.Model):
    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(Project, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name='issues')
    title = models.TextField()

    class Meta:
        app_label = 'clients'
        db_table = 'issues'
        managed = False


class IssueLink(models.Model):
    id = models.BigAutoField(primary_key=True)
    issue_id = models.BigIntegerField()
    url = models.TextField()

    class Meta:
        app_label = 'clients'
        db_table = 'issue_links'
        managed = False


class WikiPage(models.Model):
    id = models.BigAutoField(primary_key=True)
    workspace_id = models.BigIntegerField()
    slug = models.TextField()
    title = models.TextField()

    class Meta:
        app_label = 'django_clients'
        db_table = 'wiki_pages'
        managed = False


class WikiPageRevision(models.Model):
    """As docs/clients.md recommends: on_delete=DO_NOTHING, so Model.delete sends one DELETE and
    the database cascades, as one operation."""
    id = models.BigAutoField(primary_key=True)
    page = models.ForeignKey(WikiPage, on_delete=models.DO_NOTHING, db_constraint=False, related_name='revisions')
    body = models.TextField()

    class Meta:
        app_label = 'django_clients'
        db_table = 'wiki_page_revisions'
        managed = False


# The same tables declared with Django's usual on_delete=CASCADE: the collector deletes the children
# itself, in statements of their own, before the parent's DELETE.
class DefaultWikiPage(models.Model):
    id = models.BigAutoField(primary_key=True)

    class Meta:
        app_label = 'django_clients'
        db_table = 'wiki_pages'
        managed = False


class DefaultWikiPageRevision(models.Model):
    id = models.BigAutoField(primary_key=True)
    page = models.ForeignKey(DefaultWikiPage, on_delete=models.CASCADE, related_name='revisions')

    class Meta:
        app_label = 'django_clients'
        db_table = 'wiki_page_revisions'
        managed = False


f = ctx['fixture']


def archive_delete_entity():
    count, _ = WikiPage.objects.get(id=f['pages']['deleteEntity']).delete()
    return {'reported': count}


def cascade(model, page_id, note):
    def work():
        count, per_model = model.objects.get(id=page_id).delete()
        return {'note': f'{note}; Model.delete() counted {count} rows ({", ".join(f"{k}: {v}" for k, v in sorted(per_model.items()))})'}
    return work


def delete_entity():
    p = Project.objects.get(id=f['projects']['deleteEntity'])
    count, _ = p.delete()
    return {'reported': count}


def soft_delete_update():
    p = Project.objects.get(id=f['projects']['softDeleteUpdate'])
    p.deleted_at = timezone.now()
    p.save()
    return {}


def restore():
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute('SET LOCAL ROLE deletion_restorer')
        p = Project.objects.filter(id=f['projects']['restore'], deleted_at__isnull=False).first()
        if p is None:
            raise LookupError('the deleted project is not visible to deletion_restorer')
        p.deleted_at = None
        p.save()
    return {}


def upsert(email):
    def work():
        u, _ = User.objects.update_or_create(email=email, defaults={'name': UPSERTED_NAME})
        return {'id': u.id, 'note': 'update_or_create (SELECT, then UPDATE or INSERT); bulk_create(update_conflicts=True) needs Django 4.1'}
    return work


def recreate():
    return {'id': User.objects.create(email=f['emails']['recreate'], name='Recreated').id}


def load_child():
    issue = Issue.objects.select_related('project').get(id=f['childIssueId'])
    lazy = Issue.objects.get(id=f['childIssueId'])
    try:
        lazy_note = 'lazy access gives the parent' if lazy.project is not None else 'lazy access gives None'
    except Project.DoesNotExist:
        lazy_note = 'lazy access (issue.project without select_related) raises Project.DoesNotExist while project_id still names the hidden row'
    return {'parentLoaded': issue.project is not None, 'note': lazy_note if lazy.project_id is not None else None}


def reflect_unique_key():
    import io
    from django.core.management import call_command
    out = io.StringIO()
    call_command('inspectdb', 'users', stdout=out)
    return {'reflectsUnique': 'email = models.TextField(unique=True)' in out.getvalue()}


def hard_delete():
    count, _ = IssueLink.objects.get(id=f['linkId']).delete()
    return {'reported': count}


emit({
    'delete_entity': observe(delete_entity),
    'delete_returning': {'unsupported': 'the ORM has no DELETE ... RETURNING'},
    'soft_delete_update': observe(soft_delete_update),
    'restore_granted_role': observe(restore),
    'upsert_new_key': observe(upsert(f['emails']['fresh'])),
    'upsert_active_duplicate': observe(upsert(f['emails']['active'])),
    'upsert_deleted_key': observe(upsert(f['emails']['held'])),
    'recreate_deleted_unique': observe(recreate),
    'upsert_partial_index': {'unsupported': 'no ON CONFLICT with a predicate (bulk_create(update_conflicts=True), 4.1+, has none)'},
    'load_child_of_deleted_parent': observe(load_child),
    'hard_delete': observe(hard_delete),
    'reflect_unique_key': observe(reflect_unique_key),
    'archive_delete_entity': observe(archive_delete_entity),
    'archive_delete_returning': {'unsupported': 'the ORM has no DELETE ... RETURNING'},
    'orm_cascade_default': observe(cascade(DefaultWikiPage, f['pages']['cascadeDefault'], 'ForeignKey(on_delete=CASCADE)')),
    'orm_cascade_recommended': observe(cascade(WikiPage, f['pages']['cascadeRecommended'], 'ForeignKey(on_delete=DO_NOTHING, db_constraint=False)')),
})
