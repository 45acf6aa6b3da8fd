/** In-page navigation shared by the consoles (history API: pages change without a reload, Back works). */
export { Link, navigate, useLocation } from "../dashboard/router.tsx";
