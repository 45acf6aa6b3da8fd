/** The console's entry: the page for the path (/checkout/:id, /dashboard/* or a node's /console/*), with language and data fetching. */
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { z } from "zod";

import { CheckoutPage } from "./checkout/CheckoutPage.tsx";
import { Layout } from "./components/Layout.tsx";
import { ApiError } from "./api/http.ts";
import { DashboardPage, SESSION_KEY } from "./dashboard/DashboardPage.tsx";
import { I18nProvider } from "./i18n/i18n.tsx";
import { NODE_SESSION_KEY, NodeConsole } from "./node/NodeConsole.tsx";
import "./styles.css";

// zod's compiled parsers use `new Function`, which the Content-Security-Policy forbids.
z.config({ jitless: true });

/**
 * A dashboard session that ended (signed out elsewhere, idle, removed) brings the sign-in form back:
 * /dashboard/api says SESSION_REQUIRED, and /v1 without the cookie asks for its signed headers. A node
 * console's session that ended answers UNAUTHENTICATED.
 */
const SIGNED_OUT = new Set(["SESSION_REQUIRED", "AUTH_MISSING"]);
const onError = (error: Error) => {
  if (!(error instanceof ApiError)) return;
  if (SIGNED_OUT.has(error.code)) queryClient.setQueryData(SESSION_KEY, null);
  if (error.code === "UNAUTHENTICATED") queryClient.setQueryData(NODE_SESSION_KEY, null);
};
const queryClient: QueryClient = new QueryClient({
  queryCache: new QueryCache({ onError }),
  mutationCache: new MutationCache({ onError }),
  defaultOptions: {
    queries: {
      refetchOnWindowFocus: true,
      staleTime: 1_000,
      // A refusal (4xx) answers the same when asked again: only failures to reach the gateway are retried.
      retry: (failures, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && failures < 3,
    },
  },
});

function Page() {
  const checkout = /^\/checkout\/([^/]+)\/?$/.exec(window.location.pathname);
  if (checkout?.[1]) return <CheckoutPage id={decodeURIComponent(checkout[1])} />;
  if (/^\/console(\/|$)/.test(window.location.pathname)) return <NodeConsole />;
  return <DashboardPage />;
}

const root = document.getElementById("root");
if (!root) throw new Error("no #root element");
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <I18nProvider>
        <Layout>
          <Page />
        </Layout>
      </I18nProvider>
    </QueryClientProvider>
  </StrictMode>,
);
