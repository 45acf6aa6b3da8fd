/** The console's entry: the page for the path (/checkout/:id or /dashboard/*), with language and data fetching. */
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { z } from "zod";

import { CheckoutPage } from "./checkout/CheckoutPage.tsx";
import { Layout } from "./components/Layout.tsx";
import { DashboardPage } from "./dashboard/DashboardPage.tsx";
import { I18nProvider } from "./i18n/i18n.tsx";
import "./styles.css";

// zod's compiled parsers use `new Function`, which the Content-Security-Policy forbids.
z.config({ jitless: true });

const queryClient = new QueryClient({ defaultOptions: { queries: { refetchOnWindowFocus: true, staleTime: 1_000 } } });

function Page() {
  const checkout = /^\/checkout\/([^/]+)\/?$/.exec(window.location.pathname);
  if (checkout?.[1]) return <CheckoutPage id={decodeURIComponent(checkout[1])} />;
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
