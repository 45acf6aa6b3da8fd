/** Wire schema of the liveness answer. */
import { z } from "zod";

export const healthView = z.object({ status: z.literal("ok") });
