// The original mlx-serving's FeatureFlagLoader: reads a feature-flags.yaml
// and answers, for a flag and a request key, what the runtime answers. It
// reads this project's format (`kill_switch`, `flags: { name: { enabled,
// rollout_percentage, sub_flags } }`) and the original's (each feature at
// the top level with `hash_seed` and sub-features as `{ enabled }` objects,
// `emergency: { kill_switch, rollback_to_baseline }`); keys may be camelCase.
import { readFileSync } from 'node:fs';
import { blake2b } from 'blakejs';
import { load } from 'js-yaml';
import { EngineError } from '../errors/engine-error.js';
import { snakeCase } from '../wire/names.js';

/** A part of a feature (the original's sub-feature objects; our `sub_flags` show as these too). */
export interface SubFeatureConfig {
  enabled: boolean;
  [key: string]: unknown;
}

/**
 * One feature's settings: `enabled`, `rollout_percentage` and `hash_seed` always set, and its parts by name (the
 * file's keys, in snake_case).
 */
export type FeatureConfig = { [part: string]: SubFeatureConfig | undefined } & { enabled: boolean; rollout_percentage: number; hash_seed: string };

export interface EmergencyConfig {
  kill_switch: boolean;
  rollback_to_baseline: boolean;
}

/** isEnabled() answers given by this loader. */
export interface FlagDecisionStats {
  totalDecisions: number;
  enabledCount: number;
  disabledCount: number;
  /** enabledCount / totalDecisions in percent (0 before any). */
  actualPercentage: number;
}

export class FeatureFlagLoader {
  readonly path: string;
  #features = new Map<string, FeatureConfig>();
  #emergency: EmergencyConfig = { kill_switch: false, rollback_to_baseline: false };
  #decisions = { total: 0, enabled: 0 };

  constructor(path: string) {
    this.path = path;
    this.reload();
  }

  /** Reads the file again (a file that does not parse keeps the flags read before and throws CONFIG_INVALID). */
  reload(): void {
    let document: unknown;
    try {
      document = load(readFileSync(this.path, 'utf8'));
    } catch (cause) {
      throw new EngineError('CONFIG_INVALID', `Cannot read the feature flags ${this.path}: ${(cause as Error).message}`, { cause, data: { path: this.path } });
    }
    const file = snakeKeys(document ?? {}) as Record<string, unknown>;
    const ours = isObject(file['flags']);
    const sections = (ours ? file['flags'] : file) as Record<string, unknown>;
    const emergency = isObject(file['emergency']) ? (file['emergency'] as Record<string, unknown>) : {};
    const killSwitch = Boolean(file['kill_switch'] ?? emergency['kill_switch'] ?? false);
    this.#emergency = { kill_switch: killSwitch, rollback_to_baseline: Boolean(emergency['rollback_to_baseline'] ?? killSwitch) };
    this.#features = new Map(
      Object.entries(sections)
        .filter(([name, section]) => isObject(section) && !NOT_FEATURES.has(name))
        .map(([name, section]) => [name, featureConfig(name, section as Record<string, unknown>)]),
    );
  }

  /** The features the file sets. */
  get features(): string[] {
    return [...this.#features.keys()];
  }

  /** A feature's settings; a feature the file does not set is off (enabled false, rollout 0), as the runtime has it. */
  getConfig(feature: string): FeatureConfig {
    return this.#features.get(feature) ?? featureConfig(feature, { enabled: false, rollout_percentage: 0 });
  }

  /**
   * Whether the feature is on for `key`: no kill switch, enabled, and the key inside its rollout by the runtime's own
   * hash (blake2b of the seed and the key; the seed is the flag's name, or its `hash_seed`), so the same key gets the
   * runtime's answer (flags/get `onForKey`). Without a key, the rollout is not asked.
   */
  isEnabled(feature: string, key?: string): boolean {
    const config = this.getConfig(feature);
    const enabled =
      !this.#emergency.kill_switch && config.enabled && (key === undefined || config.rollout_percentage >= 100 || percentBucket(config.hash_seed, key) < config.rollout_percentage);
    this.#decisions.total += 1;
    if (enabled) this.#decisions.enabled += 1;
    return enabled;
  }

  getEmergencyConfig(): EmergencyConfig {
    return { ...this.#emergency };
  }

  getStats(): FlagDecisionStats {
    const { total, enabled } = this.#decisions;
    return { totalDecisions: total, enabledCount: enabled, disabledCount: total - enabled, actualPercentage: total > 0 ? (enabled / total) * 100 : 0 };
  }
}

// Top-level sections of the original's file that are not features.
const NOT_FEATURES = new Set(['emergency', 'observability', 'flags']);

// Where a key falls in [0, 100) for a seed: ops/buckets.py's percent_bucket.
export function percentBucket(seed: string, key: string): number {
  const digest = blake2b(Buffer.from(`${seed}\u0000${key}`, 'utf8'), undefined, 8);
  return Number(Buffer.from(digest).readBigUInt64BE(0)) * (100 / 2 ** 64);
}

function featureConfig(name: string, section: Record<string, unknown>): FeatureConfig {
  const subFlags = isObject(section['sub_flags']) ? (section['sub_flags'] as Record<string, unknown>) : {};
  // Our sub_flags as the original's sub-feature objects, beside the file's own keys.
  const subFeatures = Object.fromEntries(Object.entries(subFlags).map(([sub, on]) => [sub, { enabled: Boolean(on) }]));
  const settings = {
    enabled: Boolean(section['enabled'] ?? false),
    rollout_percentage: Number(section['rollout_percentage'] ?? 100),
    hash_seed: typeof section['hash_seed'] === 'string' ? section['hash_seed'] : name,
  };
  // The file's parts as they are; the three settings above are what the rest of it says.
  return { ...subFeatures, ...section, ...settings } as FeatureConfig;
}

function isObject(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.entries(value as object).map(([key, item]) => [snakeCase(key), snakeKeys(item)]));
}
