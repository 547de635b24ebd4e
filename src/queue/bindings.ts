/** The bindings the queue lives behind, and the one way to reach each object. */
import type { AppQueue } from "./app-queue.js";
import type { QueueRegistry } from "./registry.js";

export interface QueueEnv {
  QUEUE: DurableObjectNamespace<AppQueue>;
  REGISTRY: DurableObjectNamespace<QueueRegistry>;
}

export function queueOf(env: Pick<QueueEnv, "QUEUE">, app: string): DurableObjectStub<AppQueue> {
  return env.QUEUE.getByName(app);
}

export function registryOf(env: Pick<QueueEnv, "REGISTRY">): DurableObjectStub<QueueRegistry> {
  return env.REGISTRY.getByName("registry");
}
