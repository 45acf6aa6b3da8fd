/**
 * Deploys Settlenet to the network Hardhat is pointed at and writes the deployment file.
 *   npx hardhat run scripts/deploy.ts --network <name>
 * Environment: SETTLENET_DEPLOYMENT (output path, default deployments/<network>.json),
 * SETTLENET_ADMIN, SETTLENET_FEE_RECEIVER, SETTLENET_MAX_FEE_BPS.
 */
import { network } from "hardhat";

import { writeDeployment } from "../core/protocol/deployment.js";
import { deploySettlenet } from "./lib/deploy.js";

const connection = await network.connect();
const [signer] = await connection.ethers.getSigners();
if (!signer) throw new Error("no deployer account configured for this network");
const out = process.env.SETTLENET_DEPLOYMENT ?? `deployments/${connection.networkName}.json`;
const maxFee = process.env.SETTLENET_MAX_FEE_BPS;
const { deployment } = await deploySettlenet(signer, {
  ...(process.env.SETTLENET_ADMIN ? { admin: process.env.SETTLENET_ADMIN } : {}),
  ...(process.env.SETTLENET_FEE_RECEIVER ? { feeReceiver: process.env.SETTLENET_FEE_RECEIVER } : {}),
  ...(maxFee ? { maxFeeBps: Number.parseInt(maxFee, 10) } : {}),
});
await writeDeployment(out, deployment);
console.log(`deployed Settlenet to chain ${deployment.chainId}; wrote ${out}`);
console.log(JSON.stringify(deployment.contracts, null, 2));
