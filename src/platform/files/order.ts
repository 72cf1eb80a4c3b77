// order.toml (contract §3.5): detector input; not read by the four phases, parsed for completeness.
import { z } from "zod";
import { goList } from "./go-fields.js";
import { GroupElementSchema } from "./group.js";
import { parseToml, readToml } from "./toml-io.js";

/** One `[[order]]` entry: a candidate group of buildpacks. */
export const OrderGroupSchema = z.object({ group: goList(GroupElementSchema) });
/** One candidate group of order.toml. */
export type OrderGroup = z.output<typeof OrderGroupSchema>;

/** The whole file: `[[order]]` and `[[order-extensions]]`. */
export const OrderTomlSchema = z
  .object({ order: goList(OrderGroupSchema), "order-extensions": goList(OrderGroupSchema) })
  .transform((raw) => ({ order: raw.order, orderExtensions: raw["order-extensions"] }));
/** The content of order.toml. */
export type OrderToml = z.output<typeof OrderTomlSchema>;

/** Parses order.toml text (`path` names the file in errors). */
export function parseOrderToml(text: string, path: string): OrderToml {
  return parseToml(text, OrderTomlSchema, path);
}

/** Reads order.toml; throws PlatformFileError (code `ENOENT` when missing). */
export async function readOrderToml(path: string): Promise<OrderToml> {
  return readToml(path, OrderTomlSchema);
}
