/**
 * The shape of the chart's values tree (values.ts declares the tree, platform-values.ts part of
 * it): in a module of its own so that neither imports the other for its types.
 */
import type { Json } from '../constructs/json';

/** A JSON Schema fragment (only the keywords the chart uses). */
export interface Schema {
  readonly type?: string | readonly string[];
  readonly enum?: readonly Json[];
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minItems?: number;
  readonly items?: Schema;
  readonly additionalProperties?: Schema | boolean;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly uniqueItems?: boolean;
  readonly not?: Schema;
  readonly anyOf?: readonly Schema[];
  readonly description?: string;
  readonly propertyNames?: Schema;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly const?: Json;
  readonly if?: Schema;
  readonly then?: Schema;
  readonly allOf?: readonly Schema[];
}

export interface Leaf {
  readonly kind: 'leaf';
  readonly default: Json;
  readonly schema: Schema;
  readonly description: string;
}
export interface Section {
  readonly kind: 'section';
  readonly description: string;
  readonly children: Readonly<Record<string, ValueNode>>;
  /** Keys beyond the children are allowed (`global`: an umbrella chart passes its own). */
  readonly open?: boolean;
}
export type ValueNode = Leaf | Section;
