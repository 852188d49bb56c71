// Sequelize 6: models defined as a Sequelize user would (timestamps off, the table's own columns),
// each scenario through the model API (instance destroy/update, Model.upsert, include).
import { DataTypes, Model, Op, QueryTypes, Sequelize, type ModelStatic } from 'sequelize';
import { UPSERTED_NAME } from './expectations.ts';
import { observe, type ClientContext, type Observed, type Scenario } from './harness.ts';

export const name = 'Sequelize';
export const pkg = 'sequelize';

export async function run(ctx: ClientContext): Promise<Record<Scenario, Observed>> {
  const s = new Sequelize(ctx.appUrl, { dialect: 'postgres', logging: false, pool: { max: 2 } });
  const opts = { timestamps: false, underscored: true } as const;
  const Project: ModelStatic<Model> = s.define('Project', {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    workspaceId: { type: DataTypes.BIGINT, allowNull: false },
    name: { type: DataTypes.TEXT, allowNull: false },
    deletedAt: { type: DataTypes.DATE, allowNull: true },
  }, { ...opts, tableName: 'projects' });
  const User: ModelStatic<Model> = s.define('User', {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    email: { type: DataTypes.TEXT, allowNull: false, unique: 'users_email_key' },
    name: { type: DataTypes.TEXT, allowNull: false },
  }, { ...opts, tableName: 'users' });
  const Seat: ModelStatic<Model> = s.define('Seat', {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    seatNo: { type: DataTypes.INTEGER, allowNull: false },
    holder: { type: DataTypes.TEXT, allowNull: false },
    deletedAt: { type: DataTypes.DATE, allowNull: true },
  }, { ...opts, tableName: 'seats' });
  const Issue: ModelStatic<Model> = s.define('Issue', {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    projectId: { type: DataTypes.BIGINT, allowNull: true },
    title: { type: DataTypes.TEXT, allowNull: false },
  }, { ...opts, tableName: 'issues' });
  const IssueLink: ModelStatic<Model> = s.define('IssueLink', {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    issueId: { type: DataTypes.BIGINT, allowNull: false },
    url: { type: DataTypes.TEXT, allowNull: false },
  }, { ...opts, tableName: 'issue_links' });
  const WikiPage: ModelStatic<Model> = s.define('WikiPage', {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    workspaceId: { type: DataTypes.BIGINT, allowNull: false },
    slug: { type: DataTypes.TEXT, allowNull: false },
    title: { type: DataTypes.TEXT, allowNull: false },
  }, { ...opts, tableName: 'wiki_pages' });
  Issue.belongsTo(Project, { as: 'project', foreignKey: 'projectId', onDelete: 'SET NULL', constraints: false });
  const f = ctx.fixture;
  const upsert = (email: string) => observe(async () => {
    const [row] = await User.upsert({ email, name: UPSERTED_NAME }, { conflictFields: ['email'], returning: true });
    return { id: Number(row.get('id')) };
  });
  try {
    return {
      delete_entity: await observe(async () => {
        const row = await Project.findByPk(f.projects.deleteEntity);
        if (!row) throw new Error('the project to delete is not visible');
        return { reported: await Project.destroy({ where: { id: row.get('id') as number } }) };
      }),
      delete_returning: await observe(async () => ({ unsupported: 'Model.destroy has no RETURNING' })),
      soft_delete_update: await observe(async () => {
        const [reported] = await Project.update({ deletedAt: s.fn('now') }, { where: { id: f.projects.softDeleteUpdate } });
        return { reported };
      }),
      restore_granted_role: await observe(() => s.transaction(async (transaction) => {
        await s.query('SET LOCAL ROLE deletion_restorer', { transaction, type: QueryTypes.RAW });
        const row = await Project.findOne({ where: { id: f.projects.restore, deletedAt: { [Op.ne]: null } }, transaction });
        if (!row) throw new Error('the deleted project is not visible to deletion_restorer');
        const [reported] = await Project.update({ deletedAt: null }, { where: { id: row.get('id') as number }, transaction });
        return { reported };
      })),
      upsert_new_key: await upsert(f.emails.fresh),
      upsert_active_duplicate: await upsert(f.emails.active),
      upsert_deleted_key: await upsert(f.emails.held),
      recreate_deleted_unique: await observe(async () => {
        const row = await User.create({ email: f.emails.recreate, name: 'Recreated' });
        return { id: Number(row.get('id')) };
      }),
      upsert_partial_index: await observe(async () => {
        for (const seatNo of [f.seats.fresh, f.seats.active, f.seats.held]) {
          await Seat.upsert({ seatNo, holder: UPSERTED_NAME }, { conflictFields: ['seat_no'], conflictWhere: { deleted_at: null } } as never);
        }
        return { note: "Model.upsert(values, { conflictFields: ['seat_no'], conflictWhere: { deleted_at: null } })" };
      }),
      reflect_unique_key: await observe(async () => {
        const indexes = await s.getQueryInterface().showIndex('users') as Array<{ unique: boolean; fields: Array<{ attribute: string }> }>;
        return { reflectsUnique: indexes.some((i) => i.unique && i.fields.length === 1 && i.fields[0].attribute === 'email') };
      }),
      load_child_of_deleted_parent: await observe(async () => {
        const row = await Issue.findByPk(f.childIssueId, { include: [{ model: Project, as: 'project', required: false }] });
        if (!row) throw new Error('the child issue is not visible');
        return { parentLoaded: row.get('project') != null };
      }),
      hard_delete: await observe(async () => ({ reported: await IssueLink.destroy({ where: { id: f.linkId } }) })),
      archive_delete_entity: await observe(async () => {
        const row = await WikiPage.findByPk(f.pages.deleteEntity);
        if (!row) throw new Error('the page to delete is not visible');
        return { reported: await WikiPage.destroy({ where: { id: row.get('id') as number } }) };
      }),
      archive_delete_returning: await observe(async () => ({ unsupported: 'Model.destroy has no RETURNING' })),
      orm_cascade_default: { unsupported: 'the ORM leaves cascades to the database (no ORM-side collector)' },
      orm_cascade_recommended: { unsupported: 'the ORM leaves cascades to the database (no ORM-side collector)' },
    };
  } finally {
    await s.close();
  }
}
