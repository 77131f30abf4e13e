// Every experiment at `tiny` scale produces a well-formed result; configs are validated.
import { describe, expect, it } from 'vitest';
import { silent } from '../packages/lab/src/experiments/common';
import { EXPERIMENTS, findExperiment } from '../packages/lab/src/experiments/index';
import { ConfigError, resolveConfig, runExperiment } from '../packages/lab/src/experiments/runner';

describe.each(EXPERIMENTS.map((e) => [e.id, e] as const))('%s at tiny scale', (id, exp) => {
  it('produces tables, figures, a summary and a text', async () => {
    const config = resolveConfig(exp, 'tiny', {});
    const r = await runExperiment(exp, 'tiny', config, { progress: silent });
    expect(r.id).toBe(id);
    expect(r.config).toEqual(config);
    expect(r.tables.length).toBeGreaterThan(0);
    for (const t of r.tables) {
      expect(t.rows.length).toBeGreaterThan(0);
      for (const row of t.rows) expect(row).toHaveLength(t.columns.length);
    }
    expect(r.figures.length).toBeGreaterThan(0);
    for (const f of r.figures) {
      expect(f.name).toMatch(/^[a-z0-9-]+$/);
      expect(f.spec).toHaveProperty('$schema');
      expect(f.caption.length).toBeGreaterThan(10);
    }
    expect(Object.keys(r.summary).length).toBeGreaterThan(0);
    expect(r.text).toMatch(/\d/);
    expect(r.text).not.toMatch(/NaN|undefined/);
  });

  it('rejects a bad field with its name and an unknown field', () => {
    const first = Object.keys(exp.defaults('tiny'))[0] as string;
    expect(() => resolveConfig(exp, 'tiny', { [first]: 'not a number' })).toThrow(ConfigError);
    expect(() => resolveConfig(exp, 'tiny', { [first]: 'not a number' })).toThrow(new RegExp(`\`${first}\``));
    expect(() => resolveConfig(exp, 'tiny', { nonsense: 1 })).toThrow(/`nonsense`/);
  });
});

describe('experiment registry', () => {
  it('finds experiments by id, case-insensitively, and every scale validates', () => {
    expect(findExperiment('E5')?.id).toBe('e5');
    expect(findExperiment('e9')).toBeUndefined();
    for (const e of EXPERIMENTS) for (const s of ['tiny', 'small', 'default', 'paper'] as const) expect(() => resolveConfig(e, s, {})).not.toThrow();
  });

  it('same config and seed give the same result', async () => {
    const exp = findExperiment('e1')!;
    const c = resolveConfig(exp, 'tiny', { seeds: 1, inits: ['random-small'], scores: ['dot'] });
    const a = await runExperiment(exp, 'tiny', c, { progress: silent });
    const b = await runExperiment(exp, 'tiny', c, { progress: silent });
    expect(a.tables).toEqual(b.tables);
  });

  it('stops with an AbortError when the signal fires', async () => {
    const exp = findExperiment('e1')!;
    const c = resolveConfig(exp, 'tiny', {});
    const ac = new AbortController();
    ac.abort();
    await expect(runExperiment(exp, 'tiny', c, { progress: silent, signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
